"""When to run BibTeX or Biber and when to run the engine again (pure).

The compiler drives the engines itself instead of latexmk (NOTES.md: latexmk runs commands
a document writes into its .aux). After each pass it compares the auxiliary files TeX reads
back on the next pass (.aux, .toc, .bbl, ...) with their state before the pass; a change, or
a "Rerun" request in the log, means another pass, up to a fixed bound.

A document decides how large these files are, so the work here is bounded and cheap per
byte: the host reads at most a budget of them per pass (beyond it the state counts as
changed, and the pass bound ends the loop), large files are hashed whole (hashlib releases
the GIL), and patterns are matched over bytes one piece of about a MiB at a time, so that
the thread doing it never holds the GIL for long (the runner calls these off the event loop).
"""

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

AUX_SUFFIXES = (".aux", ".toc", ".lof", ".lot", ".loa", ".out", ".bbl", ".nav", ".snm", ".vrb")
_TRIVIAL_AUX_MAX_BYTES = 4096
"""TeX's boilerplate .aux is a few dozen bytes; anything larger is not checked line by line."""
_TRIVIAL_AUX_LINE = re.compile(rb"^(?:\\relax|\\gdef \\@abspage@last\{\d+\})$")
_RERUN_HINT = re.compile(
    rb"Rerun to get|Label\(s\) may have changed|Please rerun LaTeX|Rerun LaTeX|"
    rb"rerunfilecheck Warning|Table widths have changed"
)
_BIB_LINE = re.compile(rb"^\\(?:citation|bibdata|bibstyle)\{[^\n]*\}$", re.MULTILINE)
_BIBDATA = re.compile(rb"^\\bibdata\{(?P<names>[^}\n]*)\}$", re.MULTILINE)
_BIB_MARKERS = (b"\\citation{", b"\\bibdata{", b"\\bibstyle{")
_PIECE_BYTES = 1 << 20
Snapshot = dict[str, str]


@dataclass(frozen=True, slots=True)
class AuxFiles:
    """The auxiliary files found after a pass.

    ``listed`` names every one found; ``data`` holds those read (files over the per-file cap
    cut to it). ``complete`` is False when the per-pass budget ran out before all were read.
    """

    data: dict[str, bytes]
    listed: frozenset[str]
    complete: bool


@dataclass(frozen=True, slots=True)
class AuxState:
    """A digest of each auxiliary file that matters, and whether all of them were read."""

    snapshot: Snapshot
    complete: bool

    def settled_since(self, before: "AuxState") -> bool:
        """Nothing changed; a state not read whole is never known to be unchanged."""
        return self.complete and before.complete and self.snapshot == before.snapshot


@dataclass(frozen=True, slots=True)
class BibliographyRun:
    """A BibTeX or Biber run that is due, and the signature of what it depends on."""

    tool: Literal["bibtex", "biber"]
    signature: str


def _pieces(data: bytes) -> Iterator[memoryview]:
    """``data`` cut after a newline about every MiB (a line longer than that stays whole)."""
    view, start = memoryview(data), 0
    while start < len(data):
        end = data.find(b"\n", start + _PIECE_BYTES)
        end = len(data) if end < 0 else end + 1
        yield view[start:end]
        start = end


def _is_trivial(data: bytes) -> bool:
    if len(data) > _TRIVIAL_AUX_MAX_BYTES:
        return False
    return all(
        _TRIVIAL_AUX_LINE.match(line.strip()) or not line.strip() for line in data.splitlines()
    )


def aux_snapshot(files: Mapping[str, bytes]) -> Snapshot:
    """Digest of each auxiliary file; a file holding only TeX's boilerplate counts as absent.

    So a document without labels (hello world) needs one pass, not two, as with latexmk.
    """
    return {
        path: hashlib.sha256(data).hexdigest()
        for path, data in files.items()
        if not _is_trivial(data)
    }


def aux_state(aux: AuxFiles) -> AuxState:
    """The state of ``aux`` to compare with the one before a pass."""
    return AuxState(aux_snapshot(aux.data), aux.complete)


def rerun_requested(log: bytes) -> bool:
    """Whether the log asks for another pass."""
    return any(_RERUN_HINT.search(piece) for piece in _pieces(log))


def bibtex_signature(aux_files: Mapping[str, bytes]) -> str | None:
    """What BibTeX depends on (citations, databases, style); None when no \\bibdata is there."""
    digest, has_bibdata = hashlib.sha256(), False
    for path in sorted(p for p in aux_files if p.endswith(".aux")):
        data = aux_files[path]
        if not any(marker in data for marker in _BIB_MARKERS):
            continue  # a substring search is far cheaper than the line pattern
        for piece in _pieces(data):
            for line in _BIB_LINE.findall(piece):
                has_bibdata = has_bibdata or line.startswith(b"\\bibdata{")
                digest.update(line + b"\n")
    return digest.hexdigest() if has_bibdata else None


def bib_databases(main_aux: bytes) -> list[str]:
    """The database names listed in ``\\bibdata{...}`` lines."""
    names: list[str] = []
    if b"\\bibdata{" not in main_aux:
        return names
    for piece in _pieces(main_aux):
        for match in _BIBDATA.finditer(piece):
            listed = match.group("names").decode("utf-8", errors="replace")
            names.extend(n.strip() for n in listed.split(",") if n.strip())
    return names


def should_run_bibtex(
    databases: Iterable[str], project_paths: Iterable[str], has_bbl: bool
) -> bool:
    """Run BibTeX unless a shipped .bbl would be overwritten by a run lacking its databases.

    Projects prepared for arXiv ship a ready .bbl and no .bib; BibTeX would replace it with
    an empty one.
    """
    if not has_bbl:
        return True
    paths = set(project_paths)
    return any((name if name.endswith(".bib") else f"{name}.bib") in paths for name in databases)


def biber_signature(bcf: bytes | None) -> str | None:
    """What Biber depends on: the .bcf biblatex writes; None when there is none."""
    if not bcf or b"<bcf:controlfile" not in bcf:
        return None
    return hashlib.sha256(bcf).hexdigest()


def bibliography_due(
    aux: AuxFiles,
    bcf: bytes | None,
    *,
    main_aux: str,
    project_paths: Sequence[str],
    done: str | None,
) -> BibliographyRun | None:
    """The bibliography run due after a pass, if any; ``done`` is the last run's signature."""
    biber = biber_signature(bcf)
    if biber is not None:
        return None if biber == done else BibliographyRun("biber", biber)
    bibtex = bibtex_signature(aux.data)
    if bibtex is None or bibtex == done:
        return None
    has_bbl = f"{main_aux.removesuffix('.aux')}.bbl" in aux.listed
    databases = bib_databases(aux.data.get(main_aux, b""))
    if not should_run_bibtex(databases, project_paths, has_bbl):
        return None
    return BibliographyRun("bibtex", bibtex)
