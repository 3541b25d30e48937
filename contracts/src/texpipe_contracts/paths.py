"""Which file names a project may contain.

The rules refuse what is dangerous, not what is unusual (DESIGN.md, "What authors send"):
absolute paths, ``..`` and ``.`` segments, empty segments, NUL and other control characters,
line and paragraph separators and bidirectional controls (they make a name display as
another), backslashes, names over 255 bytes and paths over 1024 bytes (UTF-8; the first is
Linux's NAME_MAX), and, across a project, two paths that differ only in letter case or
Unicode normalisation, or a name that is both a file and a folder. Spaces, punctuation,
accents and any Unicode letters are accepted; a path is stored in NFC, the form editors
write. The api checks at the door (422) and the compiler again before it unpacks anything
(SOURCE_REJECTED). No name ever reaches a shell: the compiler passes names as arguments
after ``./``, so a name that looks like an option is only a file.
"""

import unicodedata
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
_DISPLAY_SPOOFING = frozenset(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Bidirectional marks, embeddings, overrides and isolates, and the line/paragraph separators."""


class PathRuleError(ValueError):
    """A project path broke a rule; the message names the rule and the path."""


def normalize_path(path: str) -> str:
    """``path`` in Unicode NFC (how names are stored and compared)."""
    return unicodedata.normalize("NFC", path)


def _bad_character(path: str) -> str | None:
    for char in path:
        if char == "\\":
            return "a backslash; use '/'"
        category = unicodedata.category(char)
        if category == "Cc":
            return f"the control character U+{ord(char):04X}"
        if category == "Cs":
            return f"the lone surrogate U+{ord(char):04X} (not a character)"
        if char in _DISPLAY_SPOOFING:
            return f"the invisible formatting character U+{ord(char):04X}"
    return None


def check_project_path(path: str) -> str:
    """Return ``path`` if it is an acceptable project path, else raise PathRuleError.

    The check is on the NFC form; callers store :func:`normalize_path` of it.
    """
    if not path:
        raise PathRuleError("path is empty")
    bad = _bad_character(path)
    if bad is not None:
        raise PathRuleError(f"path {path!r} contains {bad}")
    if path.startswith("/"):
        raise PathRuleError(f"path {path!r} is absolute; paths are relative to the project")
    normalized = normalize_path(path)
    if len(normalized.encode()) > MAX_PATH_BYTES:
        raise PathRuleError(f"path {path[:40]!r}... is longer than {MAX_PATH_BYTES} bytes")
    for part in normalized.split("/"):
        if part == "":
            raise PathRuleError(f"path {path!r} has an empty segment ('//' or a trailing '/')")
        if part in {".", ".."}:
            raise PathRuleError(f"path {path!r} has a {part!r} segment")
        if len(part.encode()) > MAX_NAME_BYTES:
            raise PathRuleError(
                f"path {path[:40]!r}...: the name {part[:40]!r}... is longer than"
                f" {MAX_NAME_BYTES} bytes"
            )
    return path


def check_path_set(paths: Iterable[str]) -> None:
    """Rules over a whole project: no two paths equal but for letter case or normalisation
    (they would be one file on macOS and Windows, where authors work), and no name that is
    both a file and a folder (``a`` and ``a/b``). PathRuleError names the pair.
    """
    seen: dict[str, str] = {}
    files = list(paths)
    for path in files:
        key = normalize_path(path).casefold()
        if key in seen and seen[key] != path:
            raise PathRuleError(f"paths {seen[key]!r} and {path!r} differ only in letter case")
        if key in seen:
            raise PathRuleError(f"path {path!r} appears twice")
        seen[key] = path
    for path in files:
        parts = normalize_path(path).casefold().split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in seen:
                raise PathRuleError(f"{seen[prefix]!r} is both a file and a folder in {path!r}")


ProjectPath = Annotated[str, AfterValidator(check_project_path)]
"""A project-relative path that passed :func:`check_project_path`."""
