"""Turn a request's file set into checked bytes, find the main file, pick the engine (pure).

Limits are enforced here so that every entrypoint gets the same answers: the number of files
and the decoded total size (413), the path rules from the contracts (422 naming the rule), and
a main file that exists. Paths are stored in NFC.

The main file is the one the request names, else ``main.tex``, else the project's only
``.tex`` file with an uncommented ``\\documentclass`` (figures made with the ``standalone``
class do not count when another candidate exists), or the one every ``% !TEX root`` comment
names; otherwise 422 listing the candidates.

The engine comes from the request, else from the main file's ``% !TEX program = NAME``
magic comment (the TeXShop/TeXstudio convention), else from a ``latexmkrc``/``.latexmkrc``
beside the main file or at the project root, read as text for latexmk's engine settings and
never executed (``$pdf_mode`` 1/4/5, the program named in ``$pdflatex``), else pdflatex.
Which of these chose it is recorded (``EngineSource``).
"""

import base64
import binascii
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from texpipe_contracts.paths import (
    PathRuleError,
    check_path_set,
    check_project_path,
    normalize_path,
)
from texpipe_contracts.v1 import Engine

from texpipe_api.errors import (
    InvalidRequestError,
    MainFileAmbiguousError,
    MainFileMissingError,
    PathRuleViolationError,
    SourceTooLargeError,
    TooManyFilesError,
)
from texpipe_api.schemas import Base64File, EngineSource

# Magic comments sit at the top of the file; looking further would find commented-out text.
_MAGIC_SCAN_LINES = 30
_MAGIC = re.compile(r"^%\s*!\s*TEX\s+(?:TS-)?program\s*=\s*([A-Za-z]+)\s*$", re.IGNORECASE)
_MAGIC_ROOT = re.compile(r"^%\s*!\s*TEX\s+root\s*=\s*(.+?)\s*$", re.IGNORECASE)
_DOCUMENTCLASS = re.compile(
    rb"^[^%\n]*?\\documentclass\s*(?:\[[^\]]*\]\s*)?\{\s*([^}\s]*)", re.MULTILINE
)
DEFAULT_MAIN = "main.tex"
_PART_CLASSES = frozenset({"standalone", "subfiles"})
LATEXMKRC_NAMES = ("latexmkrc", ".latexmkrc")
_MAX_LATEXMKRC_BYTES = 256 * 1024
# latexmk's $pdf_mode: 1 pdflatex, 4 lualatex, 5 xelatex (latexmk's manual, "pdf_mode").
_PDF_MODES = {"1": Engine.PDFLATEX, "4": Engine.LUALATEX, "5": Engine.XELATEX}
_PDF_MODE = re.compile(r"\$pdf_mode\s*=\s*(\d)\s*(?:;|$)", re.MULTILINE)
_PROGRAM = re.compile(r"\$(pdflatex|lualatex|xelatex)\s*=\s*(?:q\s*[({/|]|['\"])\s*([A-Za-z]+)")
_ENGINE_NAMES = {
    "pdflatex": Engine.PDFLATEX,
    "lualatex": Engine.LUALATEX,
    "xelatex": Engine.XELATEX,
}


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """How much a project may contain."""

    max_files: int
    max_total_bytes: int


@dataclass(frozen=True, slots=True)
class CheckedSources:
    """A file set that passed every rule, with the engine it compiles with."""

    files: dict[str, bytes]
    main_file: str
    engine: Engine
    engine_source: EngineSource


def decode_files(files: Mapping[str, str | Base64File], limits: SourceLimits) -> dict[str, bytes]:
    """Decode text and base64 entries, checking paths, count and total size."""
    if not files:
        raise InvalidRequestError("'files' must contain at least one file")
    if len(files) > limits.max_files:
        raise TooManyFilesError(f"{len(files)} files; the limit is {limits.max_files} (max_files)")
    decoded: dict[str, bytes] = {}
    total = 0
    for path, content in files.items():
        try:
            check_project_path(path)
        except PathRuleError as exc:
            raise PathRuleViolationError(str(exc), path=path) from exc
        data = _decode_one(path, content)
        total += len(data)
        if total > limits.max_total_bytes:
            raise SourceTooLargeError(
                f"the sources exceed {limits.max_total_bytes} bytes (max_total_bytes)"
            )
        decoded[normalize_path(path)] = data
    try:
        check_path_set(files)
    except PathRuleError as exc:
        raise PathRuleViolationError(str(exc)) from exc
    return decoded


def _decode_one(path: str, content: str | Base64File) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    try:
        return base64.b64decode(content.base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(
            f"file {path!r}: 'base64' is not valid base64", path=path
        ) from exc


def detect_engine(main_source: bytes) -> Engine | None:
    """The engine named by a ``% !TEX program = NAME`` comment at the top, if a known one."""
    text = main_source[:8192].decode("utf-8", errors="replace")
    for line in text.splitlines()[:_MAGIC_SCAN_LINES]:
        stripped = line.strip()
        if stripped and not stripped.startswith("%"):
            break  # magic comments come before any content
        match = _MAGIC.match(stripped)
        if match:
            try:
                return Engine(match.group(1).lower())
            except ValueError:
                return None
    return None


def _is_main_candidate(data: bytes) -> str | None:
    """The document class of a file with an uncommented ``\\documentclass``, else None."""
    match = _DOCUMENTCLASS.search(data[:65536])
    return match.group(1).decode("utf-8", "replace") if match else None


def _magic_roots(files: Mapping[str, bytes]) -> set[str]:
    """Project paths named by ``% !TEX root = FILE`` comments, relative to their file."""
    roots: set[str] = set()
    for path, data in files.items():
        if not path.endswith(".tex"):
            continue
        for line in data[:8192].decode("utf-8", errors="replace").splitlines()[:_MAGIC_SCAN_LINES]:
            match = _MAGIC_ROOT.match(line.strip())
            if match:
                folder = posixpath.dirname(path)
                named = posixpath.normpath(posixpath.join(folder, match.group(1)))
                roots.add(normalize_path(named))
    return roots


def find_main_file(files: Mapping[str, bytes]) -> str:
    """The main file of a project whose request names none (see the module's docstring)."""
    if DEFAULT_MAIN in files:
        return DEFAULT_MAIN
    classes = {
        p: c for p, d in files.items() if p.endswith(".tex") and (c := _is_main_candidate(d))
    }
    roots = {r for r in _magic_roots(files) if r in files}
    if len(roots) == 1:
        return roots.pop()
    candidates = sorted(classes)
    # Figures (standalone) and chapters compiled on their own (subfiles) are not the main file.
    documents = [p for p in candidates if classes[p] not in _PART_CLASSES]
    if len(documents) == 1:
        return documents[0]
    shown = documents or candidates
    if len(shown) == 1:
        return shown[0]
    listed = ", ".join(shown[:20]) if shown else "none has an uncommented \\documentclass"
    raise MainFileAmbiguousError(
        f"no main file named and no main.tex; candidates: {listed}. Name one in 'main'.",
        candidates=shown[:100],
    )


def engine_from_latexmkrc(text: str) -> Engine | None:
    """The engine latexmk would use by the settings in ``text`` (read, never run): the last
    ``$pdf_mode`` assignment, and the program its command variable names (``$pdflatex =
    'lualatex %O %S'`` runs LuaLaTeX)."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    modes = _PDF_MODE.findall(code)
    engine = _PDF_MODES.get(modes[-1]) if modes else None
    programs = {var: name.lower() for var, name in _PROGRAM.findall(code)}
    variable = {Engine.PDFLATEX: "pdflatex", Engine.LUALATEX: "lualatex", Engine.XELATEX: "xelatex"}
    if engine is None:
        # No pdf_mode: latexmk's default is a DVI build, unless a program was set up for PDF.
        named = [_ENGINE_NAMES.get(p) for p in programs.values()]
        found = {e for e in named if e is not None}
        return found.pop() if len(found) == 1 else None
    command = programs.get(variable[engine])
    return _ENGINE_NAMES.get(command, engine) if command else engine


def _latexmkrc_engine(files: Mapping[str, bytes], main_file: str) -> Engine | None:
    folder = posixpath.dirname(main_file)
    places = [folder, ""] if folder else [""]
    for place in places:
        for name in LATEXMKRC_NAMES:
            data = files.get(f"{place}/{name}" if place else name)
            if data is not None:
                return engine_from_latexmkrc(
                    data[:_MAX_LATEXMKRC_BYTES].decode("utf-8", errors="replace")
                )
    return None


def choose_engine(
    files: Mapping[str, bytes], main_file: str, requested: Engine | None
) -> tuple[Engine, EngineSource]:
    """The engine and what chose it: the request, the magic comment, a latexmkrc, the default."""
    if requested is not None:
        return requested, EngineSource.REQUEST
    magic = detect_engine(files[main_file])
    if magic is not None:
        return magic, EngineSource.MAGIC_COMMENT
    from_rc = _latexmkrc_engine(files, main_file)
    if from_rc is not None:
        return from_rc, EngineSource.LATEXMKRC
    return Engine.PDFLATEX, EngineSource.DEFAULT


def check_sources(
    files: Mapping[str, str | Base64File],
    *,
    main_file: str | None,
    engine: Engine | None,
    limits: SourceLimits,
) -> CheckedSources:
    """Everything a new revision needs checked, in one call."""
    if main_file is not None:
        try:
            check_project_path(main_file)
        except PathRuleError as exc:
            raise PathRuleViolationError(f"main: {exc}", path=main_file) from exc
    decoded = decode_files(files, limits)
    main = normalize_path(main_file) if main_file is not None else find_main_file(decoded)
    if main not in decoded:
        raise MainFileMissingError(f"main file {main!r} is not among the files", path=main)
    if not main.endswith(".tex"):
        raise InvalidRequestError(f"main file {main!r} does not end in .tex", path=main)
    chosen, source = choose_engine(decoded, main, engine)
    return CheckedSources(files=decoded, main_file=main, engine=chosen, engine_source=source)
