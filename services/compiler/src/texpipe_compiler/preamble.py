"""Preamble formats: what a preamble is, what its dump read, and when a format fits (pure).

A format is a memory image of TeX after the preamble, dumped by mylatexformat. It is used
only for the document it was dumped from (keys start with the document id), the same engine
and TeX build, and only while the main file's lines up to ``\\begin{document}``, the project's
list of paths and the content of every project file the dump read are unchanged (a new file
could shadow an installed one that the dump read: the path list is part of the identity).
A dump that read anything outside the project and the read-only installation (a generated
file, a font cache the job wrote) is undumpable.
"""

import hashlib
import json
import posixpath
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from texpipe_contracts.v1 import Engine

from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.sandbox import SYSTEM_RO_TREES

FORMAT_PREFIX = "compiler/formats"
MANIFEST_SCHEMA = 1
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.tex$")
_DUMP_LINE = re.compile(rb"texpipe-dump-line:(\d{1,9})")
_INSTALLATION = ("/usr/", *(tree + "/" for tree in SYSTEM_RO_TREES))
"""Read-only in every sandbox: TeX Live, its configuration and formats, the system's fonts."""


@dataclass(frozen=True, slots=True)
class Preamble:
    """A main file's preamble: its last line (the one with ``\\begin{document}``) and the
    identity a format is looked up by (lines, project paths, engine, build, main file)."""

    end_line: int
    identity: str


def dumpable_name(main: cmd.MainFile) -> bool:
    """mylatexformat reads the main file through ``\\input``: plain names only."""
    return bool(_PLAIN_NAME.fullmatch(main.name))


def _code_part(line: bytes) -> bytes:
    """``line`` without its comment (from the first ``%`` that is not ``\\%``)."""
    index = 0
    while index < len(line):
        char = line[index : index + 1]
        if char == b"\\":
            index += 2
            continue
        if char == b"%":
            return line[:index]
        index += 1
    return line


def preamble_end(main_text: bytes) -> int | None:
    """The 1-based line at which mylatexformat's scan of a document that loads the format
    stops: the first line whose code has ``\\begin`` followed by ``document``. None when there
    is none, or when the file names ``endofdump`` (its other stop, not supported here)."""
    for number, line in enumerate(main_text.splitlines(), start=1):
        code = _code_part(line)
        if b"endofdump" in code:
            return None
        begin = code.find(b"\\begin")
        if begin >= 0 and b"document" in code[begin:]:
            return number
    return None


def preamble_of(
    files: Sequence[ProjectFile],
    main: cmd.MainFile,
    engine: Engine,
    engine_version: str,
    fingerprint: str,
) -> Preamble | None:
    """The main file's preamble, or None when it has none a format could stand for."""
    if not dumpable_name(main):
        return None
    text = next((f.data for f in files if f.path == main.path), None)
    end = preamble_end(text) if text is not None else None
    if text is None or end is None:
        return None
    lines = b"\n".join(text.splitlines()[:end])
    material = json.dumps(
        [engine.value, engine_version, fingerprint, main.path, sorted(f.path for f in files)]
    ).encode()
    identity = hashlib.sha256(material + b"\0" + lines).hexdigest()
    return Preamble(end, identity)


def dump_line(log: bytes) -> int | None:
    """The main file's line at which the dump happened, as the dump's log says it."""
    found = _DUMP_LINE.findall(log)
    return int(found[-1]) if found else None


@dataclass(frozen=True, slots=True)
class DumpInputs:
    """What a dump read: project files (path -> sha256), or why it cannot be reused."""

    project: dict[str, str]
    outside: str | None


def dump_inputs(fls: bytes, main: cmd.MainFile, files: Sequence[ProjectFile]) -> DumpInputs:
    """Classify the INPUT lines of a dump's .fls: project files by content, installation
    files (immutable for this build), anything else (``outside``: the first such path)."""
    by_path = {f.path: f for f in files}
    project: dict[str, str] = {}
    pwd = cmd.PROJECT_DIR
    for line in fls.splitlines():
        if line.startswith(b"PWD "):
            pwd = line[4:].decode("utf-8", "replace")
            continue
        if not line.startswith(b"INPUT "):
            continue
        name = line[6:].decode("utf-8", "replace")
        absolute = posixpath.normpath(posixpath.join(pwd, name))
        if absolute.startswith(_INSTALLATION):
            continue
        prefix = cmd.PROJECT_DIR + "/"
        path = absolute[len(prefix) :] if absolute.startswith(prefix) else None
        if path is not None and path.startswith(cmd.STATE_DIR + "/"):
            continue  # the compiler's own wrapper
        if path is None or path not in by_path:
            return DumpInputs({}, absolute)
        if path != main.path:  # the main file counts by its preamble lines (``Preamble``)
            project[path] = hashlib.sha256(by_path[path].data).hexdigest()
    return DumpInputs(project, None)


def inputs_match(recorded: Mapping[str, str], files: Sequence[ProjectFile]) -> bool:
    """Every file the dump read is in the project with the content it had."""
    by_path = {f.path: f for f in files}
    return all(
        path in by_path and hashlib.sha256(by_path[path].data).hexdigest() == digest
        for path, digest in recorded.items()
    )


def manifest_key(document_id: uuid.UUID, preamble: Preamble) -> str:
    """``compiler/formats/<document id>/<preamble identity>.json``: what is known of it."""
    return f"{FORMAT_PREFIX}/{document_id}/{preamble.identity}.json"


def format_key(document_id: uuid.UUID, preamble: Preamble, inputs: Mapping[str, str]) -> str:
    """``compiler/formats/<document id>/<digest of identity and inputs>.fmt``."""
    material = json.dumps([preamble.identity, sorted(inputs.items())]).encode()
    return f"{FORMAT_PREFIX}/{document_id}/{hashlib.sha256(material).hexdigest()}.fmt"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What is known of one preamble: ``seen`` once (dump at the next sight), ``dumped``
    (``format`` is its key, ``inputs`` what the dump read) or ``undumpable`` (``reason``)."""

    status: str
    format: str | None = None
    inputs: Mapping[str, str] | None = None
    reason: str | None = None


def encode_manifest(manifest: Manifest) -> bytes:
    """The stored form (JSON)."""
    return json.dumps(
        {
            "schema": MANIFEST_SCHEMA,
            "status": manifest.status,
            "format": manifest.format,
            "inputs": dict(manifest.inputs) if manifest.inputs is not None else None,
            "reason": manifest.reason,
        }
    ).encode()


def decode_manifest(data: bytes, document_id: uuid.UUID) -> Manifest | None:
    """The manifest in ``data``; None when it is not one this compiler wrote for the
    document (then the preamble counts as never seen)."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict) or raw.get("schema") != MANIFEST_SCHEMA:
        return None
    status, fmt, inputs, reason = (raw.get(k) for k in ("status", "format", "inputs", "reason"))
    if status not in {"seen", "dumped", "undumpable"}:
        return None
    if status == "dumped":
        own = f"{FORMAT_PREFIX}/{document_id}/"
        if not (isinstance(fmt, str) and fmt.startswith(own) and isinstance(inputs, dict)):
            return None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
            return None
    return Manifest(
        status,
        fmt if isinstance(fmt, str) else None,
        inputs if isinstance(inputs, dict) else None,
        reason if isinstance(reason, str) else None,
    )


def undumpable_reason(log: bytes) -> str:
    """Why a dump failed, from its log: a label for metrics."""
    if b"native fonts" in log:
        return "native_fonts"  # XeTeX: fontspec loaded an OpenType font in the preamble
    return "dump_failed"
