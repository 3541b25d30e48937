"""Where a compile's outputs live in S3, derived from everything that decides the PDF.

The same source (sha256), engine, engine build and options always give the same key, so a
result found under the key is the result a compile would produce now: the cache needs no
invalidation. ``KEY_SCHEMA`` changes whenever the way the compiler builds PDFs changes.
"""

import hashlib
import json
from dataclasses import dataclass

from texpipe_contracts.v1 import Engine

KEY_SCHEMA = "texpipe-compiler/3"
OUTPUTS_PREFIX = "outputs"


@dataclass(frozen=True, slots=True)
class CacheInputs:
    """What decides a compile's output."""

    source_sha256: str
    engine: Engine
    engine_version: str
    engine_fingerprint: str
    """A digest of the engine's installed format file: changes when TeX Live is updated."""
    main_file: str
    source_date_epoch: int
    scope: str | None = None
    """The document id when the compile started from that document's auxiliary state or
    preamble format: its PDF then depends on the document's history as well as on its
    source (TeX may settle on another fixed point), so only that document may find it."""


@dataclass(frozen=True, slots=True)
class OutputKeys:
    """The S3 keys of one compile's outputs."""

    pdf: str
    log: str
    meta: str
    synctex: str
    bbl: str


def cache_key(inputs: CacheInputs) -> str:
    """A hex digest naming the outputs of ``inputs``."""
    scoped = {"scope": inputs.scope} if inputs.scope is not None else {}
    material = json.dumps(
        {
            **scoped,
            "schema": KEY_SCHEMA,
            "source": inputs.source_sha256,
            "engine": inputs.engine.value,
            "engine_version": inputs.engine_version,
            "engine_fingerprint": inputs.engine_fingerprint,
            "main_file": inputs.main_file,
            "source_date_epoch": inputs.source_date_epoch,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def output_keys(key: str) -> OutputKeys:
    """``outputs/<key>/output.pdf`` and friends (docs/architecture.md, S3 layout)."""
    base = f"{OUTPUTS_PREFIX}/{key}"
    return OutputKeys(
        pdf=f"{base}/output.pdf",
        log=f"{base}/output.log",
        meta=f"{base}/meta.json",
        synctex=f"{base}/output.synctex.gz",
        bbl=f"{base}/output.bbl",
    )
