"""When to run BibTeX, Biber or an index processor, and when to run the engine again (pure).

The compiler drives the engines itself instead of latexmk (NOTES.md: latexmk runs commands
a document writes into its .aux). After each pass it compares the auxiliary files TeX reads
back on the next pass (.aux, .toc, .bbl, ...) with their state before the pass; a change, or
a "Rerun" request in the log, means another pass, up to a fixed bound. Indexes, glossaries
and nomenclatures are built as latexmk and makeglossaries build them: makeindex (or xindy,
when the glossaries package asks for it in the .aux) over each input that changed since its
last run, then another pass.

A document decides how large these files are, so the work here is bounded and cheap per
byte: the host reads at most a budget of them per pass (beyond it the state counts as
changed, and the pass bound ends the loop), large files are hashed whole (hashlib releases
the GIL), and patterns are matched over bytes one piece of about a MiB at a time, so that
the thread doing it never holds the GIL for long (the runner calls these off the event loop).
"""

import hashlib
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from texpipe_compiler import latex_commands as cmd

AUX_SUFFIXES = (
    ".aux", ".toc", ".lof", ".lot", ".loa", ".out", ".bbl", ".nav", ".snm", ".vrb",
    # Index, glossary and nomenclature inputs (TeX writes them) and outputs (TeX reads them).
    ".idx", ".ind", ".glo", ".gls", ".acn", ".acr", ".slo", ".sls", ".nlo", ".nls",
)  # fmt: skip
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
    an empty one. ``databases`` are project paths (see ``project_relative``).
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
    main: cmd.MainFile,
    project_paths: Sequence[str],
    done: str | None,
    salt: str = "",
) -> BibliographyRun | None:
    """The bibliography run due after a pass, if any; ``done`` is the last run's signature.

    ``salt`` goes into every signature: a digest of the files a run may read besides the
    .aux/.bcf (``incremental.inputs_salt``), so that a signature kept from an earlier
    revision matches only when those files are the same too."""
    main_aux = cmd.output_names(main).aux
    biber = biber_signature(bcf)
    if biber is not None:
        biber = _digest(biber, salt)
        return None if biber == done else BibliographyRun("biber", biber)
    bibtex = bibtex_signature(aux.data)
    if bibtex is not None:
        bibtex = _digest(bibtex, salt)
    if bibtex is None or bibtex == done:
        return None
    has_bbl = f"{main_aux.removesuffix('.aux')}.bbl" in aux.listed
    databases = [project_relative(main, n) for n in bib_databases(aux.data.get(main_aux, b""))]
    if not should_run_bibtex(databases, project_paths, has_bbl):
        return None
    return BibliographyRun("bibtex", bibtex)


@dataclass(frozen=True, slots=True)
class ToolRun:
    """An index processor run that is due: ``key`` names its input, ``signature`` the state
    it ran on (it runs again only when that changes)."""

    key: str
    signature: str
    argv: list[str]


_SAFE_EXT = re.compile(r"^[A-Za-z0-9]{1,16}$")
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_SAFE_STYLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,100}\.(?:ist|xdy)$")
_NEW_GLOSSARY = re.compile(
    rb"^\\@newglossary\{(?P<name>[^}\n]*)\}\{(?P<log>[^}\n]*)\}"
    rb"\{(?P<out>[^}\n]*)\}\{(?P<in>[^}\n]*)\}",
    re.MULTILINE,
)
_IST_FILE = re.compile(rb"^\\@istfilename\{(?P<file>[^}\n]*)\}", re.MULTILINE)
_GLS_ORDER = re.compile(rb"^\\@glsorder\{(?P<order>[^}\n]*)\}", re.MULTILINE)
_XDY_LANGUAGE = re.compile(
    rb"^\\@xdylanguage\{(?P<name>[^}\n]*)\}\{(?P<lang>[^}\n]*)\}", re.MULTILINE
)
_CODEPAGE = re.compile(rb"^\\@gls@codepage\{(?P<name>[^}\n]*)\}\{(?P<cp>[^}\n]*)\}", re.MULTILINE)
_NOMENCL_STYLE = "nomencl.ist"


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def _first(pattern: re.Pattern[bytes], data: bytes, group: str) -> str | None:
    match = pattern.search(data)
    return match.group(group).decode("utf-8", "replace").strip() if match else None


def _index_style(main: cmd.MainFile, stem: str, project_paths: Sequence[str]) -> str | None:
    """The author's .ist for index ``stem``: ``<stem>.ist`` shipped beside the main file, else
    the only .ist the project ships there (latexmk users name it in their latexmkrc)."""
    shipped = sorted(
        p.rpartition("/")[2]
        for p in project_paths
        if p.endswith(".ist") and p.rpartition("/")[0] == main.folder
    )
    if f"{stem}.ist" in shipped:
        return f"./{stem}.ist"
    return f"./{shipped[0]}" if len(shipped) == 1 else None


def _glossary_style(main: cmd.MainFile, style: str | None) -> str | None:
    """The style the glossaries package named, if it is one we pass on: its own
    ``<job name>.ist``/``.xdy`` (any name a main file may have: makeindex gets it as one
    argument after ``./``), or a plain name. xindy takes only plain names: its Perl script
    runs module names through backticks and two-argument ``open``."""
    if style is None:
        return None
    if style.endswith(".xdy"):
        return style if _SAFE_STYLE.fullmatch(style) else None
    own = style in {f"{main.job_name}.ist"}
    return style if own or _SAFE_STYLE.fullmatch(style) else None


def _glossary_runs(main: cmd.MainFile, aux: AuxFiles, main_aux: bytes) -> list[ToolRun]:
    """What makeglossaries would run, from the glossaries package's lines in the main .aux.

    A glossary whose input is not among the listed auxiliary files (its own extension, e.g.
    ``\\newglossary[nlg]{notation}{not}{ntn}``) still runs, keyed by the main .aux."""
    style = _glossary_style(main, _first(_IST_FILE, main_aux, "file"))
    if style is None:
        return []
    order_letter = _first(_GLS_ORDER, main_aux, "order") == "letter"
    languages = {m.group("name"): m.group("lang") for m in _XDY_LANGUAGE.finditer(main_aux)}
    codepages = {m.group("name"): m.group("cp") for m in _CODEPAGE.finditer(main_aux)}
    runs: list[ToolRun] = []
    for match in _NEW_GLOSSARY.finditer(main_aux):
        exts = [match.group(g).decode("utf-8", "replace") for g in ("log", "out", "in")]
        if not all(_SAFE_EXT.fullmatch(e) for e in exts):
            continue
        log_ext, out_ext, in_ext = exts
        source = main.in_project(f"{main.job_name}.{in_ext}")
        job = f"./{main.job_name}"
        if style.endswith(".xdy"):
            name = match.group("name")
            language = languages.get(name, b"english").decode("utf-8", "replace")
            codepage = codepages.get(name, b"utf8").decode("utf-8", "replace")
            if not (_SAFE_WORD.fullmatch(language) and _SAFE_WORD.fullmatch(codepage)):
                continue
            argv = cmd.xindy_argv(
                f"{job}.{in_ext}", f"{job}.{out_ext}", module=f"./{style}",
                language=language, codepage=codepage, log=f"{job}.{log_ext}",
            )  # fmt: skip
        else:
            argv = cmd.makeindex_argv(
                f"{job}.{in_ext}", f"{job}.{out_ext}", style=f"./{style}", log=f"{job}.{log_ext}"
            )
            if order_letter:
                argv.insert(1, "-l")
        data = aux.data[source] if source in aux.listed else main_aux
        runs.append(ToolRun(source, _digest(data, *argv), argv))
    return runs


def index_runs(
    aux: AuxFiles,
    main: cmd.MainFile,
    *,
    project_paths: Sequence[str],
    done: Mapping[str, str],
    salt: str = "",
) -> list[ToolRun]:
    """The index, glossary and nomenclature runs due after a pass (inputs beside the main
    file that changed since their last run, ``done``: key -> signature; ``salt`` as for
    ``bibliography_due``)."""
    runs: list[ToolRun] = []
    main_aux = aux.data.get(main.in_project(f"{main.job_name}.aux"), b"")
    glossaries = _glossary_runs(main, aux, main_aux)
    glossary_inputs = {run.key for run in glossaries}
    runs += glossaries
    for path in sorted(aux.listed):
        folder, _, name = path.rpartition("/")
        if folder != main.folder or path in glossary_inputs:
            continue
        stem, _, ext = name.rpartition(".")
        data = aux.data.get(path, b"")
        if ext == "idx":
            style = _index_style(main, stem, project_paths)
            argv = cmd.makeindex_argv(f"./{name}", f"./{stem}.ind", style=style, log=None)
        elif ext == "nlo" and stem == main.job_name:
            argv = cmd.makeindex_argv(
                f"./{name}", f"./{stem}.nls", style=_NOMENCL_STYLE, log=f"./{stem}.nlg"
            )
        else:
            continue
        runs.append(ToolRun(path, _digest(data, *argv), argv))
    runs = [ToolRun(r.key, _digest(r.signature, salt), r.argv) for r in runs]
    return [run for run in runs if done.get(run.key) != run.signature]


def read_back_uncovered(
    fls: bytes, main: cmd.MainFile, project_paths: Iterable[str], listed: Iterable[str]
) -> list[str]:
    """Files a pass read (its ``-recorder`` .fls) that an earlier pass or tool wrote and that
    the comparison of auxiliary files does not cover: neither project files, nor listed
    (``AuxFiles.listed``), nor the installation's (absolute paths outside the project).

    A pass that read such a file (a list of listings, a theorem list) may have read a stale
    one: it cannot be the last pass of an incremental compile.
    """
    known = set(project_paths) | set(listed)
    own = cmd.STATE_DIR + "/"  # the compiler's format
    uncovered: set[str] = set()
    for piece in _pieces(fls):
        for line in bytes(piece).splitlines():
            if not line.startswith(b"INPUT "):
                continue
            name = line[6:].decode("utf-8", "replace")
            path = _in_project(main, name)
            if path is not None and path not in known and not path.startswith(own):
                uncovered.add(path)
    return sorted(uncovered)


def _in_project(main: cmd.MainFile, name: str) -> str | None:
    """The project path of a name TeX opened in the main file's folder; None outside it."""
    if name.startswith("/"):
        prefix = cmd.PROJECT_DIR + "/"
        return posixpath.normpath(name[len(prefix) :]) if name.startswith(prefix) else None
    path = posixpath.normpath(project_relative(main, name))
    return None if path.startswith("../") or path == ".." else path


def project_relative(main: cmd.MainFile, name: str) -> str:
    """``name`` as TeX in the main file's folder sees it, as a project path (``..`` folded)."""
    return posixpath.normpath(posixpath.join(main.folder, name)) if main.folder else name
