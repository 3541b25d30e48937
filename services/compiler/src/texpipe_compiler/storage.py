"""The compiler's S3 objects: source bundles in, PDFs, logs and cache records out."""

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass

from botocore.exceptions import ClientError
from pydantic import ValidationError
from texpipe_contracts.v1 import (
    MAX_DIAGNOSTICS,
    Diagnostics,
    ObjectRef,
    PdfRef,
    SourceBundleRef,
    SynctexRef,
)
from texpipe_servicekit.s3 import ObjectTooLargeError, S3Store, is_missing

from texpipe_compiler.cache_key import OutputKeys
from texpipe_compiler.errors import SourceRejectedError
from texpipe_compiler.outputs import BBL_TYPE, LOG_TYPE, PDF_TYPE, SYNCTEX_TYPE, PdfFacts

META_TYPE = "application/json"
RECORD_MAX_BYTES = 2 * 1024 * 1024
"""A cache record's size cap: a PDF and a log reference and up to MAX_DIAGNOSTICS entries of
at most 1524 characters (file and message), at most 4 bytes each in UTF-8 JSON: 1.3 MB."""
MEMO_DIAGNOSTICS = 10 * MAX_DIAGNOSTICS
"""How many diagnostics the memo holds in all: 2000 entries, about 13 MB if every one had the
longest file name and message in 4-byte characters (a few hundred KB as logs usually are)."""


@dataclass(frozen=True, slots=True)
class CachedResult:
    """A successful compile found under its cache key."""

    pdf: PdfRef
    log: ObjectRef | None
    diagnostics: Diagnostics | None
    """None when the record was written before records kept them."""
    synctex: SynctexRef | None = None
    bbl: ObjectRef | None = None


class OutputStore:
    """Reads sources and reads/writes outputs in the deployment's bucket.

    Cache entries this process wrote or found recently are remembered for ``memo_ttl_s``, so
    that a repeated request is answered without a round trip to S3; S3 stays the truth and
    the memo is bounded in age, in entries and in the diagnostics it holds.
    """

    def __init__(self, store: S3Store, *, memo_ttl_s: float = 60.0, memo_size: int = 4096) -> None:
        self._store = store
        self._memo: OrderedDict[str, tuple[float, CachedResult]] = OrderedDict()
        self._memo_ttl_s, self._memo_size = memo_ttl_s, memo_size
        self._memo_diagnostics = 0

    def _remember(self, keys: OutputKeys, result: CachedResult) -> None:
        self._forget(keys.meta)
        self._memo[keys.meta] = (time.monotonic() + self._memo_ttl_s, result)
        self._memo_diagnostics += _diagnostic_count(result)
        while len(self._memo) > self._memo_size or self._memo_diagnostics > MEMO_DIAGNOSTICS:
            self._forget(next(iter(self._memo)))

    def _forget(self, key: str) -> None:
        entry = self._memo.pop(key, None)
        if entry is not None:
            self._memo_diagnostics -= _diagnostic_count(entry[1])

    def _recall(self, keys: OutputKeys) -> CachedResult | None:
        entry = self._memo.get(keys.meta)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._forget(keys.meta)
            return None
        return entry[1]

    async def fetch_source(self, ref: SourceBundleRef, *, max_bytes: int) -> bytes:
        """The bundle's bytes, checked against its sha256; SourceRejectedError otherwise."""
        if ref.size > max_bytes:
            raise SourceRejectedError(f"the source bundle is {ref.size} bytes, over {max_bytes}")
        try:
            data = await self._store.get(ref.key, max_bytes=max_bytes)
        except ObjectTooLargeError as exc:
            raise SourceRejectedError(f"the source bundle is over {max_bytes} bytes") from exc
        except ClientError as exc:
            if is_missing(exc):
                raise SourceRejectedError(f"source bundle {ref.key} does not exist") from exc
            raise
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        if digest != ref.sha256:
            raise SourceRejectedError(f"source bundle {ref.key} does not match its sha256")
        return data

    async def lookup(self, keys: OutputKeys) -> CachedResult | None:
        """The cached success under ``keys``, if its record and its PDF are both there."""
        remembered = self._recall(keys)
        if remembered is not None:
            return remembered
        record, head = await asyncio.gather(self._read_record(keys), self._store.head(keys.pdf))
        if record is None or head is None or head.size != record.pdf.size:
            return None
        self._remember(keys, record)
        return record

    async def _read_record(self, keys: OutputKeys) -> CachedResult | None:
        try:
            raw = await self._store.get(keys.meta, max_bytes=RECORD_MAX_BYTES)
        except ObjectTooLargeError:
            return None  # not a record this compiler wrote: a miss, the compile rewrites it
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        try:
            data = json.loads(raw)
            pdf = PdfRef.model_validate(data["pdf"])
            log = ObjectRef.model_validate(data["log"]) if data.get("log") else None
            listed = data.get("diagnostics")
            diagnostics = Diagnostics.model_validate(listed) if listed is not None else None
            synctex = SynctexRef.model_validate(data["synctex"]) if data.get("synctex") else None
            bbl = ObjectRef.model_validate(data["bbl"]) if data.get("bbl") else None
        except (ValueError, KeyError, TypeError, ValidationError):
            return None  # an unreadable record is a miss: the compile rewrites it
        return CachedResult(pdf, log, diagnostics, synctex, bbl)

    async def save_log(self, keys: OutputKeys, text: str) -> ObjectRef:
        """Store the (sanitized) log."""
        data = text.encode("utf-8")
        await self._store.put(keys.log, data, content_type=LOG_TYPE)
        return ObjectRef(key=keys.log, size=len(data))

    async def save_pdf(self, keys: OutputKeys, data: bytes, sha256: str) -> None:
        """Store the PDF with its sha256 (hex) in the object's metadata; its reference, once
        its pages are counted, is ``pdf_ref``."""
        await self._store.put(keys.pdf, data, content_type=PDF_TYPE, sha256=sha256)

    async def save_synctex(self, keys: OutputKeys, data: bytes, project_root: str) -> SynctexRef:
        """Store the SyncTeX file as the engine wrote it (gzip); ``project_root`` is where the
        project's root was in the sandbox (names inside the file start with it)."""
        await self._store.put(keys.synctex, data, content_type=SYNCTEX_TYPE)
        return SynctexRef(key=keys.synctex, size=len(data), project_root=project_root)

    async def save_bbl(self, keys: OutputKeys, data: bytes) -> ObjectRef:
        """Store the main file's ``.bbl``."""
        await self._store.put(keys.bbl, data, content_type=BBL_TYPE)
        return ObjectRef(key=keys.bbl, size=len(data))

    async def save_record(
        self,
        keys: OutputKeys,
        pdf: PdfRef,
        log: ObjectRef | None,
        diagnostics: Diagnostics | None,
        *,
        synctex: SynctexRef | None = None,
        bbl: ObjectRef | None = None,
    ) -> None:
        """Written last: its presence means the outputs it names are complete (the cache
        entry). The record keeps the compile's diagnostics, so that a cache hit reports them
        too, and its SyncTeX file and ``.bbl``.
        """
        record = {
            "pdf": pdf.model_dump(mode="json"),
            "log": log and log.model_dump(mode="json"),
            "diagnostics": diagnostics and diagnostics.model_dump(mode="json"),
            "synctex": synctex and synctex.model_dump(mode="json"),
            "bbl": bbl and bbl.model_dump(mode="json"),
        }
        data = json.dumps(record, ensure_ascii=False).encode()
        await self._store.put(keys.meta, data, content_type=META_TYPE)
        self._remember(keys, CachedResult(pdf, log, diagnostics, synctex, bbl))


def _diagnostic_count(result: CachedResult) -> int:
    return len(result.diagnostics.items) if result.diagnostics is not None else 0


def pdf_ref(keys: OutputKeys, facts: PdfFacts) -> PdfRef:
    """The reference of the PDF stored under ``keys`` (``OutputStore.save_pdf``)."""
    return PdfRef(key=keys.pdf, size=facts.size, sha256=facts.sha256, pages=facts.pages)
