"""Read a source bundle into memory, refusing anything but a plain set of project files.

Nothing is extracted to disk here: members are checked with tarfile's own ``data`` filter
(absolute names, ``..``, links, devices) and then with texpipe's rules (regular files only,
the project path rules, no duplicates, a cap on file count and total size). The files
then travel into the sandbox's tmpfs through the sandbox driver.
"""

import io
import tarfile
from dataclasses import dataclass

from texpipe_contracts.paths import PathRuleError, check_path_set, check_project_path

from texpipe_compiler.errors import SourceRejectedError

_VIRTUAL_DEST = "/texpipe-project"
"""Where tarfile's data filter pretends to extract; only its checks matter."""


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """How large a project may be."""

    max_files: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class ProjectFile:
    """One regular file of a project."""

    path: str
    data: bytes


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.isdir():
        return "a directory entry"
    if member.isdev():
        return "a device or FIFO"
    if member.issparse():
        return "a sparse file"
    return "not a regular file"


def _check_member(member: tarfile.TarInfo) -> None:
    if not member.isreg() or member.issparse():
        raise SourceRejectedError(f"{member.name!r} is {_kind(member)}; only regular files")
    # tarfile's data filter appeared in Python 3.11.4; where it is missing (Debian 12's
    # 3.11.2) the texpipe rules below still refuse everything it would.
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is not None:
        try:
            data_filter(member, _VIRTUAL_DEST)
        except tarfile.FilterError as exc:
            raise SourceRejectedError(f"{member.name!r}: {exc}") from exc
    try:
        check_project_path(member.name)
    except PathRuleError as exc:
        raise SourceRejectedError(str(exc)) from exc


def read_bundle(data: bytes, limits: BundleLimits) -> list[ProjectFile]:
    """The files of the bundle ``data``; SourceRejectedError names the first broken rule."""
    files: list[ProjectFile] = []
    total = 0
    try:
        # "r:" reads uncompressed tars only: a bundle is never compressed, so no bomb.
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                if len(files) >= limits.max_files:
                    raise SourceRejectedError(f"more than {limits.max_files} files")
                _check_member(member)
                total += member.size
                if total > limits.max_bytes:
                    raise SourceRejectedError(f"the files exceed {limits.max_bytes} bytes")
                extracted = tar.extractfile(member)
                content = extracted.read() if extracted is not None else b""
                if len(content) != member.size:
                    raise SourceRejectedError(f"{member.name!r} is truncated")
                files.append(ProjectFile(member.name, content))
    except tarfile.TarError as exc:
        raise SourceRejectedError(f"not a valid tar bundle: {exc}") from exc
    if not files:
        raise SourceRejectedError("the bundle holds no files")
    try:
        check_path_set(f.path for f in files)
    except PathRuleError as exc:
        raise SourceRejectedError(str(exc)) from exc
    return files


def require_main_file(files: list[ProjectFile], main_file: str) -> None:
    """The main file must be one of the project's files and a .tex file."""
    if not main_file.endswith(".tex"):
        raise SourceRejectedError(f"main file {main_file!r} does not end in .tex")
    if main_file not in {f.path for f in files}:
        raise SourceRejectedError(f"main file {main_file!r} is not in the project")
