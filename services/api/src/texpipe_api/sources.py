"""Turn a request's file set into checked bytes and pick the engine (pure, no I/O).

Limits are enforced here so that every entrypoint gets the same answers: the number of files
and the decoded total size (413), the path rules from the contracts (422 naming the rule), and
a main file that exists. The engine comes from the request, else from the main file's
``% !TEX program = NAME`` magic comment (the TeXShop/TeXstudio convention), else pdflatex.
"""

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

from texpipe_contracts.paths import PathRuleError, check_project_path
from texpipe_contracts.v1 import Engine

from texpipe_api.errors import (
    InvalidRequestError,
    MainFileMissingError,
    PathRuleViolationError,
    SourceTooLargeError,
    TooManyFilesError,
)
from texpipe_api.schemas import Base64File

# Magic comments sit at the top of the file; looking further would find commented-out text.
_MAGIC_SCAN_LINES = 30
_MAGIC = re.compile(r"^%\s*!\s*TEX\s+(?:TS-)?program\s*=\s*([A-Za-z]+)\s*$", re.IGNORECASE)


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
        decoded[path] = data
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


def check_sources(
    files: Mapping[str, str | Base64File],
    *,
    main_file: str,
    engine: Engine | None,
    limits: SourceLimits,
) -> CheckedSources:
    """Everything a new revision needs checked, in one call."""
    try:
        check_project_path(main_file)
    except PathRuleError as exc:
        raise PathRuleViolationError(f"main: {exc}", path=main_file) from exc
    decoded = decode_files(files, limits)
    if main_file not in decoded:
        raise MainFileMissingError(
            f"main file {main_file!r} is not among the files", path=main_file
        )
    chosen = engine or detect_engine(decoded[main_file]) or Engine.PDFLATEX
    return CheckedSources(files=decoded, main_file=main_file, engine=chosen)
