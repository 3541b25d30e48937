r"""Which local files make the document, which one is the main file, and how they travel.

A folder sends every regular file under it, by its path relative to the folder, except hidden
files and folders (a name starting with ``.``, which also skips ``.texpipe``, ``.git``) other
than ``.latexmkrc`` (the api reads its engine setting, never runs it), the files matched by
``--exclude`` and the output PDF itself. The main file is ``--main`` when given; otherwise the
api finds it (main.tex, else the one file with a ``\documentclass``) and says which. Symbolic
links are not followed: the document is what is really in the folder. A single ``.tex`` file
sends only that file.
"""

import base64
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from texpipe_cli.errors import UsageError

STATE_DIR = ".texpipe"
SENT_HIDDEN = frozenset({".latexmkrc"})

JsonFile = str | dict[str, str]
"""A file as the api takes it: UTF-8 text, or ``{"base64": ...}``."""


@dataclass(frozen=True, slots=True)
class Project:
    """What ``texpipe compile PATH`` sends, and where it keeps its state and output."""

    name: str
    files: dict[str, bytes]
    main: str | None
    state_path: Path
    default_output: Path


def _excluded(relative: str, patterns: Iterable[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def collect_folder(
    root: Path, *, exclude: Iterable[str] = (), skip: Iterable[Path] = ()
) -> dict[str, Path]:
    """Project path (``/``-separated, relative to ``root``) -> local file, sorted by path."""
    patterns = tuple(exclude)
    skipped = {p.resolve() for p in skip}
    found: dict[str, Path] = {}
    # An explicit stack, not rglob: hidden and excluded folders are pruned, not walked.
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(".") and entry.name not in SENT_HIDDEN:
                continue
            relative = entry.relative_to(root).as_posix()
            if entry.is_symlink() or _excluded(relative, patterns):
                continue
            if entry.is_dir():
                stack.append(entry)
            elif entry.is_file() and entry.resolve() not in skipped:
                found[relative] = entry
    return dict(sorted(found.items()))


def choose_main(files: Mapping[str, bytes], explicit: str | None) -> str | None:
    """``--main`` checked against the files; None lets the api find the main file."""
    if explicit is None:
        return None
    main = explicit.replace("\\", "/").strip("/")
    if main not in files:
        raise UsageError(f"--main {explicit}: no such file in the project")
    return main


def encode_file(data: bytes) -> JsonFile:
    """Text when the bytes are UTF-8 without NUL, else base64 (images, fonts)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return text
    return {"base64": base64.b64encode(data).decode("ascii")}


def encode_files(files: Mapping[str, bytes]) -> dict[str, JsonFile]:
    """The ``files`` member of a document body."""
    return {path: encode_file(data) for path, data in files.items()}


def default_output(path: Path) -> Path:
    """``<name>.pdf`` beside the input: ``paper/`` -> ``paper.pdf``, ``a/x.tex`` -> ``a/x.pdf``."""
    resolved = path.resolve()
    if resolved.is_dir():
        return resolved.parent / f"{resolved.name}.pdf"
    return resolved.with_suffix(".pdf")


def state_path(path: Path) -> Path:
    """Where the folder -> document mapping is kept: ``PATH/.texpipe/document.json`` for a
    folder, ``.texpipe/<file name>.json`` beside a single file."""
    resolved = path.resolve()
    if resolved.is_dir():
        return resolved / STATE_DIR / "document.json"
    return resolved.parent / STATE_DIR / f"{resolved.name}.json"


def load_project(
    path: Path, *, main: str | None, output: Path, exclude: Iterable[str] = ()
) -> Project:
    """Read the project at ``path`` (blocking: call it in a thread)."""
    resolved = path.resolve()
    if resolved.is_dir():
        local = collect_folder(resolved, exclude=exclude, skip=[output])
        if not local:
            raise UsageError(f"{path}: no files to send")
        try:
            files = {rel: file.read_bytes() for rel, file in local.items()}
        except OSError as exc:
            raise UsageError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        chosen = choose_main(files, main)
    elif resolved.is_file():
        if main is not None and main != resolved.name:
            raise UsageError("--main only applies to a folder")
        try:
            files = {resolved.name: resolved.read_bytes()}
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
        chosen = resolved.name
    else:
        raise UsageError(f"{path}: no such file or folder")
    return Project(
        name=resolved.name,
        files=files,
        main=chosen,
        state_path=state_path(resolved),
        default_output=default_output(resolved),
    )
