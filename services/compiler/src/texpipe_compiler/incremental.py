"""The auxiliary state one compile of a document leaves for the next (pure).

After a successful compile whose passes settled, the files TeX reads back on its next pass
(``.aux`` with the sub-aux files of ``\\include``, ``.toc``, ``.bbl``, ``.ind``, ...) and the
signatures of the BibTeX/Biber and index runs that made them are kept, per document, engine,
engine build and main file (``state_key``). The next compile of the same document writes
them beside its project before pass 1; its passes end after one when nothing moved.

Nothing in a state is trusted: it was made by the same document (the same trust domain),
it is bounded in files and bytes, every path passes the project path rules, carries an
auxiliary suffix, lies outside the compiler's own folder and never replaces a project file.
A state that breaks any rule is dropped whole (the compile starts from scratch).
"""

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from texpipe_contracts.paths import PathRuleError, check_path_set, check_project_path
from texpipe_contracts.v1 import Engine

from texpipe_compiler import latex_commands as cmd
from texpipe_compiler import passes
from texpipe_compiler.bundle_reader import ProjectFile

STATE_SCHEMA = 1
STATE_PREFIX = "compiler/aux"
MAX_STATE_FILES = 200
MAX_STATE_BYTES = 8 * 1024 * 1024
"""Auxiliary bytes kept per document (an article's are a few KB; a book's a few hundred)."""
MAX_STATE_OBJECT_BYTES = MAX_STATE_BYTES * 4 // 3 + 1024 * 1024
"""The stored JSON: the files in base64 plus the signatures."""
_WRITTEN_ONLY = (".idx", ".glo", ".acn", ".slo", ".nlo")
SEED_SUFFIXES = tuple(s for s in passes.AUX_SUFFIXES if s not in _WRITTEN_ONLY)
"""What TeX reads back. Index inputs are written afresh by pass 1 (their runs' signatures
are kept instead)."""


@dataclass(frozen=True, slots=True)
class AuxSeed:
    """Auxiliary files (project paths) and the signatures of the runs that made them."""

    files: tuple[ProjectFile, ...]
    bib_done: str | None = None
    tools_done: Mapping[str, str] = field(default_factory=dict)


def state_key(
    document_id: uuid.UUID, engine: Engine, engine_version: str, fingerprint: str, main_file: str
) -> str:
    """``compiler/aux/<document id>/<digest of engine, build, main file>.json``: one state
    per document and way of compiling it, never shared between documents."""
    material = json.dumps([engine.value, engine_version, fingerprint, main_file])
    digest = hashlib.sha256(material.encode()).hexdigest()
    return f"{STATE_PREFIX}/{document_id}/{digest}.json"


def usable_project(files: Iterable[ProjectFile]) -> bool:
    """A project with a file in the compiler's own folder starts from nothing."""
    own = cmd.STATE_DIR + "/"
    return not any(f.path.startswith(own) or f.path == cmd.STATE_DIR for f in files)


def inputs_salt(files: Sequence[ProjectFile], main: cmd.MainFile) -> str:
    """A digest of what BibTeX, Biber and the index processors may read besides what TeX
    wrote: every project file but the main file, and the main file too when it writes
    files itself (``filecontents``: a .bib made by the document)."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        if f.path == main.path and b"filecontents" not in f.data:
            continue
        digest.update(f"{f.path}\0{hashlib.sha256(f.data).hexdigest()}\0".encode())
    return digest.hexdigest()


def seed_from(
    aux: passes.AuxFiles,
    project_paths: Iterable[str],
    bib_done: str | None,
    tools_done: Mapping[str, str],
) -> AuxSeed | None:
    """The state to keep after a settled compile; None when it is over the bounds."""
    if not aux.complete:
        return None
    shipped = set(project_paths)
    files = tuple(
        ProjectFile(path, data)
        for path, data in sorted(aux.data.items())
        if path.endswith(SEED_SUFFIXES) and path not in shipped
    )
    if len(files) > MAX_STATE_FILES or sum(len(f.data) for f in files) > MAX_STATE_BYTES:
        return None
    return AuxSeed(files, bib_done, dict(tools_done))


def encode_state(seed: AuxSeed) -> bytes:
    """The stored form: JSON with the files in base64."""
    return json.dumps(
        {
            "schema": STATE_SCHEMA,
            "bib_done": seed.bib_done,
            "tools_done": dict(seed.tools_done),
            "files": {f.path: base64.b64encode(f.data).decode() for f in seed.files},
        }
    ).encode()


class StateRejectedError(ValueError):
    """A stored state breaks a rule; it is not used."""


def decode_state(data: bytes, project: Sequence[ProjectFile]) -> AuxSeed:
    """The seed in ``data`` for a compile of ``project``; StateRejectedError names the rule
    it breaks."""
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("schema") != STATE_SCHEMA:
            raise StateRejectedError("not a state of this schema")
        bib_done, tools_done, listed = raw["bib_done"], raw["tools_done"], raw["files"]
        if not (bib_done is None or isinstance(bib_done, str)) or not isinstance(listed, dict):
            raise StateRejectedError("malformed state")
        if not isinstance(tools_done, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tools_done.items()
        ):
            raise StateRejectedError("malformed tool signatures")
        files = tuple(
            ProjectFile(_checked_path(path), base64.b64decode(text, validate=True))
            for path, text in listed.items()
            if isinstance(text, str)
        )
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error) as exc:
        if isinstance(exc, StateRejectedError):
            raise
        raise StateRejectedError(f"unreadable state: {exc}") from exc
    if len(files) > MAX_STATE_FILES or sum(len(f.data) for f in files) > MAX_STATE_BYTES:
        raise StateRejectedError("state over its bounds")
    shipped = {f.path for f in project}
    files = tuple(f for f in files if f.path not in shipped)  # the project's own wins
    try:
        check_path_set([*shipped, *(f.path for f in files)])
    except PathRuleError as exc:
        raise StateRejectedError(str(exc)) from exc
    return AuxSeed(files, bib_done, dict(tools_done))


def _checked_path(path: object) -> str:
    if not isinstance(path, str):
        raise StateRejectedError("a path that is not a string")
    try:
        check_project_path(path)
    except PathRuleError as exc:
        raise StateRejectedError(str(exc)) from exc
    if not path.endswith(SEED_SUFFIXES) or path.startswith(cmd.STATE_DIR + "/"):
        raise StateRejectedError(f"{path!r} is not an auxiliary file")
    return path
