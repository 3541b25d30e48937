"""When to run BibTeX or Biber and when to run the engine again (pure).

The compiler drives the engines itself instead of latexmk (NOTES.md: latexmk runs commands
a document writes into its .aux). After each pass it compares the auxiliary files TeX reads
back on the next pass (.aux, .toc, .bbl, ...) with their state before the pass; a change, or
a "Rerun" request in the log, means another pass, up to a fixed bound.
"""

import hashlib
import re
from collections.abc import Iterable, Mapping

AUX_SUFFIXES = (".aux", ".toc", ".lof", ".lot", ".loa", ".out", ".bbl", ".nav", ".snm", ".vrb")
_TRIVIAL_AUX_LINE = re.compile(r"^(?:\\relax|\\gdef \\@abspage@last\{\d+\})$")
_RERUN_HINT = re.compile(
    r"Rerun to get|Label\(s\) may have changed|Please rerun LaTeX|Rerun LaTeX|"
    r"rerunfilecheck Warning|Table widths have changed"
)
_BIB_LINE = re.compile(r"^\\(?:citation|bibdata|bibstyle)\{.*\}$")
_BIBDATA = re.compile(r"^\\bibdata\{(?P<names>[^}]*)\}$", re.MULTILINE)
Snapshot = dict[str, str]


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


def aux_snapshot(files: Mapping[str, bytes]) -> Snapshot:
    """Digest of each auxiliary file; a file holding only TeX's boilerplate counts as absent.

    So a document without labels (hello world) needs one pass, not two, as with latexmk.
    """
    snapshot: Snapshot = {}
    for path, data in files.items():
        lines = _lines(data)
        if all(_TRIVIAL_AUX_LINE.match(line.strip()) or not line.strip() for line in lines):
            continue
        snapshot[path] = hashlib.sha256(data).hexdigest()
    return snapshot


def rerun_requested(log_text: str) -> bool:
    """Whether the log asks for another pass."""
    return bool(_RERUN_HINT.search(log_text))


def bibtex_signature(aux_files: Mapping[str, bytes]) -> str | None:
    """What BibTeX depends on (citations, databases, style); None when no \\bibdata is there."""
    wanted: list[str] = []
    for path in sorted(p for p in aux_files if p.endswith(".aux")):
        wanted.extend(line for line in _lines(aux_files[path]) if _BIB_LINE.match(line))
    if not any(line.startswith("\\bibdata{") for line in wanted):
        return None
    return hashlib.sha256("\n".join(wanted).encode()).hexdigest()


def bib_databases(main_aux: bytes) -> list[str]:
    """The database names listed in ``\\bibdata{...}`` lines."""
    text = main_aux.decode("utf-8", errors="replace")
    names: list[str] = []
    for match in _BIBDATA.finditer(text):
        names.extend(n.strip() for n in match.group("names").split(",") if n.strip())
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
