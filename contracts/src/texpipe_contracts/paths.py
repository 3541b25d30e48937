"""Which file names a project may contain.

The rule is an allowlist applied to every path component, checked by the api at the door
(422) and again by the compiler before it unpacks anything (SOURCE_REJECTED): a name TeX,
latexmk or a shell could read as an option, a hidden file, a parent reference or a
configuration file never reaches a compile.
"""

import re
from typing import Annotated

from pydantic import AfterValidator

MAX_PATH_LENGTH = 255
MAX_PATH_DEPTH = 8
_COMPONENT = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_+.\-]{0,99}$")
FORBIDDEN_NAMES = frozenset({"latexmkrc", ".latexmkrc", "texmf.cnf"})


class PathRuleError(ValueError):
    """A project path broke a rule; the message names the rule."""


def check_project_path(path: str) -> str:
    """Return ``path`` if it is an acceptable project path, else raise PathRuleError."""
    if not path:
        raise PathRuleError("path is empty")
    if "\x00" in path:
        raise PathRuleError(f"path {path!r} contains a NUL byte")
    if "\\" in path:
        raise PathRuleError(f"path {path!r} contains a backslash; use '/'")
    if path.startswith("/"):
        raise PathRuleError(f"path {path!r} is absolute; paths are relative to the project")
    if len(path) > MAX_PATH_LENGTH:
        raise PathRuleError(f"path {path[:40]!r}... is longer than {MAX_PATH_LENGTH} characters")
    parts = path.split("/")
    if len(parts) > MAX_PATH_DEPTH:
        raise PathRuleError(f"path {path!r} is nested deeper than {MAX_PATH_DEPTH} levels")
    for part in parts:
        if part in {"", ".", ".."}:
            raise PathRuleError(f"path {path!r} has an empty, '.' or '..' component")
        if part.lower() in FORBIDDEN_NAMES:
            raise PathRuleError(f"path {path!r}: a file named {part!r} is not allowed")
        if not _COMPONENT.fullmatch(part):
            raise PathRuleError(
                f"path {path!r}: each name may use only letters, digits, '_', '-', '+' and '.',"
                " must not start with '-' or '.', and is at most 100 characters"
            )
    return path


ProjectPath = Annotated[str, AfterValidator(check_project_path)]
"""A project-relative path that passed :func:`check_project_path`."""
