"""Cache records in the real S3: they keep a compile's diagnostics, and the memo is bounded."""

import hashlib
import json
import secrets

from texpipe_compiler.cache_key import output_keys
from texpipe_compiler.outputs import PdfFacts
from texpipe_compiler.storage import MEMO_DIAGNOSTICS, OutputStore, pdf_ref
from texpipe_contracts.v1 import MAX_DIAGNOSTICS, Diagnostic, Diagnostics, Severity
from texpipe_servicekit.s3 import S3Store

PDF = b"%PDF-1.5\nnot really a PDF, only bytes of a known size\n%%EOF\n"
FACTS = PdfFacts(sha256=hashlib.sha256(PDF).hexdigest(), size=len(PDF), pages=1)


def listed(count: int) -> Diagnostics:
    entry = Diagnostic(
        severity=Severity.WARNING,
        file="chapters/chapter one.tex",
        line=12,
        message="Citation `lamport1978' on page 1 undefined on input line 12.",
    )
    return Diagnostics(items=[entry] * count, omitted=3)


async def test_a_record_keeps_the_diagnostics_and_an_older_record_has_none(
    s3_store: S3Store,
) -> None:
    keys = output_keys(secrets.token_hex(32))
    writer = OutputStore(s3_store)
    await writer.save_pdf(keys, PDF, FACTS.sha256)
    pdf = pdf_ref(keys, FACTS)
    await writer.save_record(keys, pdf, None, listed(MAX_DIAGNOSTICS))
    found = await OutputStore(s3_store).lookup(keys)  # a fresh memo: read from S3
    assert found is not None
    assert found.diagnostics == listed(MAX_DIAGNOSTICS)

    older = output_keys(secrets.token_hex(32))
    await writer.save_pdf(older, PDF, FACTS.sha256)
    record = {"pdf": pdf.model_dump(mode="json"), "log": None}
    await s3_store.put(older.meta, json.dumps(record).encode(), content_type="application/json")
    found = await OutputStore(s3_store).lookup(older)
    assert found is not None
    assert found.diagnostics is None


async def test_the_memo_holds_a_bounded_number_of_diagnostics(s3_store: S3Store) -> None:
    store = OutputStore(s3_store)
    first = output_keys(secrets.token_hex(32))
    await store.save_pdf(first, PDF, FACTS.sha256)
    pdf = pdf_ref(first, FACTS)
    await store.save_record(first, pdf, None, listed(MAX_DIAGNOSTICS))
    await s3_store.put(first.meta, b"{}", content_type="application/json")  # S3 now says: miss
    assert await store.lookup(first) is not None  # answered from the memo
    for _ in range(MEMO_DIAGNOSTICS // MAX_DIAGNOSTICS):
        await store.save_record(
            output_keys(secrets.token_hex(32)), pdf, None, listed(MAX_DIAGNOSTICS)
        )
    assert await store.lookup(first) is None  # evicted, so read from S3
