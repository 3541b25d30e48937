"""Page counting: in a child process per PDF, any failure of the parser a clean verdict."""

import io
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pypdf import PdfWriter
from texpipe_compiler.outputs import (
    PageCounter,
    PageCountTimeoutError,
    UnreadablePdfError,
    output_files,
)
from texpipe_contracts.v1 import ObjectRef, PdfRef


@pytest_asyncio.fixture
async def counter() -> AsyncIterator[PageCounter]:
    pages = PageCounter(timeout_s=30)
    yield pages
    await pages.aclose()


def pdf(pages: int = 2, *, user_password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=100, height=100)
    if user_password is not None:
        writer.encrypt(user_password, owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


async def test_a_pdf_is_counted(counter: PageCounter) -> None:
    data = pdf(2)
    facts = await counter.facts(data)
    assert (facts.pages, facts.size, len(facts.sha256)) == (2, len(data), 64)
    assert (await counter.facts(pdf(3))).pages == 3  # the spare started for the next one


async def test_an_aes_encrypted_pdf_that_opens_without_a_password_is_counted(
    counter: PageCounter,
) -> None:
    assert (await counter.facts(pdf(4, user_password=""))).pages == 4


async def test_a_pdf_locked_by_a_password_is_unreadable(counter: PageCounter) -> None:
    with pytest.raises(UnreadablePdfError, match="cannot be read"):
        await counter.facts(pdf(1, user_password="secret"))


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.5 nothing else",
        b"",
        # A trailer whose /Prev no file offset can be (pdfTeX writes what it is told).
        pdf(1).replace(b"trailer\n<<", b"trailer\n<< /Prev 1000000000000000000000000000000"),
        pdf(1).replace(b"startxref\n", b"startxref\n99999999999999999999999999"),
        b"%PDF-1.7\n" + b"[" * 100_000,
    ],
    ids=["truncated", "empty", "prev-overflow", "startxref-overflow", "deep-nesting"],
)
async def test_whatever_the_parser_meets_is_a_verdict(counter: PageCounter, data: bytes) -> None:
    try:
        facts = await counter.facts(data)
    except UnreadablePdfError:
        return
    assert facts.pages >= 1


async def test_a_count_that_overruns_is_stopped_and_its_process_reaped(tmp_path: Path) -> None:
    stuck = (
        sys.executable,
        "-c",
        "import os, sys, time; open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close()\n"
        "sys.stdin.buffer.read(); time.sleep(60)",
        str(tmp_path),
    )
    counter = PageCounter(timeout_s=2, argv=stuck)
    try:
        with pytest.raises(PageCountTimeoutError, match=r"within 2 s"):
            await counter.facts(b"x")
    finally:
        await counter.aclose()
    started = [int(p.name) for p in tmp_path.iterdir()]
    assert started  # the stuck count, and maybe the spare
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_reader_that_dies_gives_an_unreadable_pdf() -> None:
    killed = (sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    counter = PageCounter(timeout_s=30, argv=killed)
    try:
        with pytest.raises(UnreadablePdfError, match="ended with -9"):
            await counter.facts(pdf(1))
    finally:
        await counter.aclose()


async def test_the_reader_gets_none_of_the_services_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEXPIPE_S3_SECRET_KEY", "do-not-leak")
    probe = (
        sys.executable,
        "-c",
        "import json, os; print(json.dumps({'pages': 0 if 'TEXPIPE_S3_SECRET_KEY' in os.environ"
        " else 1}))",
    )
    counter = PageCounter(timeout_s=30, argv=probe)
    try:
        assert (await counter.facts(b"%PDF")).pages == 1
    finally:
        await counter.aclose()


def test_output_files_are_named_after_the_job_and_list_only_what_exists() -> None:
    pdf = PdfRef(key="outputs/k/output.pdf", size=10, sha256="0" * 64, pages=1)
    bbl = ObjectRef(key="outputs/k/output.bbl", size=3)
    listed = output_files("My Thesis", pdf=pdf, log_ref=None, synctex=None, bbl=bbl)
    assert [(f.name, f.key, f.size, f.content_type) for f in listed] == [
        ("My Thesis.pdf", pdf.key, 10, "application/pdf"),
        ("My Thesis.bbl", bbl.key, 3, "text/x-tex"),
    ]
    assert output_files("main", pdf=None, log_ref=None, synctex=None, bbl=None) == []


def test_the_longest_main_file_name_still_names_its_outputs() -> None:
    ref = ObjectRef(key="outputs/k/output.synctex.gz", size=1)
    (listed,) = output_files("x" * 251, pdf=None, log_ref=None, synctex=ref, bbl=None)
    assert listed.name.endswith(".synctex.gz")
