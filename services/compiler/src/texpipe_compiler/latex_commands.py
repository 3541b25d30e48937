"""The command lines and the environment of every TeX program a compile runs (pure).

Flags come from one table per engine. Every run is non-interactive, stops at the first
error, reports errors as ``file:line:``, has shell escape off and reads its main file by a
``./`` path (a name can never be read as an option). Like latexmk's ``-cd`` and Overleaf,
every program runs in the main file's folder, and the job name is the main file's own base
name, so ``\\jobname`` and ``../shared/x.tex`` mean what the author expects; the PDF's /ID,
which TeX derives from the job name, is still the same for the same source.
"""

from dataclasses import dataclass

from texpipe_contracts.v1 import Engine

WORK_ROOT = "/work"
PROJECT_DIR = f"{WORK_ROOT}/project"
HOME_DIR = f"{WORK_ROOT}/home"
TEXMF_VAR_DIR = f"{WORK_ROOT}/texmf-var"
TECTONIC_ROOT = "/opt/tectonic"
TECTONIC_CACHE_DIR = f"{TECTONIC_ROOT}/cache"  # read-only: the format was built at install
TMP_DIR = f"{WORK_ROOT}/tmp"  # noqa: S108 (inside the sandbox's own tmpfs)
TECTONIC_BIN = f"{TECTONIC_ROOT}/bin/tectonic"
TECTONIC_BUNDLE = f"{TECTONIC_ROOT}/bundle"
STATE_DIR = "_texpipe"
"""The project folder the compiler keeps for itself: a preamble format and its dumps. A
project that has a file under it compiles from scratch (no aux state, no format)."""
FORMAT_NAME = "texpipe-preamble"
FORMAT_DIR = "/texpipe-format"
"""Where a compile's preamble format is mounted read-only (outside the project and /work)."""
FORMAT_FILE = f"{FORMAT_DIR}/{FORMAT_NAME}.fmt"
DUMP_DIR = f"{STATE_DIR}/dump"
DUMP_WRAPPER = f"{STATE_DIR}/dump-main.tex"
"""What mylatexformat reads after itself: switches off its font preloading, then reads the
main file. Preloaded shapes would take pdfTeX's font numbers, hence the ``/F<n>`` names in
every page, away from what a compile from scratch gives."""
DUMP_EPOCH = 0
"""SOURCE_DATE_EPOCH of every dump: what the base format's first job computes from the date
(LaTeX3's ``\\c_sys_*_int`` and the memory they leave) is then the same in every dump."""
FORMAT_ENGINES = frozenset({Engine.PDFLATEX, Engine.XELATEX})
"""Engines whose preambles are dumped (LuaTeX does not dump its Lua state, e.g. luaotfload)."""

_COMMON_FLAGS = (
    "-no-shell-escape",
    # SyncTeX, uncompressed (-1): <job>.synctex. The compiler compresses it beside other
    # work; compressed by the engine (1) it cost each pass of the corpus's article ~16 ms.
    "-synctex=-1",
    "-interaction=nonstopmode",
    "-halt-on-error",
    "-file-line-error",
    "-recorder",  # <job>.fls: what a pass read (the incremental check, the dump's inputs)
)
_ENGINE_FLAGS: dict[Engine, tuple[str, ...]] = {
    Engine.PDFLATEX: ("pdflatex", *_COMMON_FLAGS),
    Engine.XELATEX: ("xelatex", *_COMMON_FLAGS),
    # No --safer: luaotfload (hence fontspec) refuses to load under it. Lua's io/os reach
    # only what the sandbox shows: the job's own tmpfs and read-only system trees.
    Engine.LUALATEX: ("lualatex", "--nosocket", *_COMMON_FLAGS),
}
TEX_ENGINES = frozenset(_ENGINE_FLAGS)


@dataclass(frozen=True, slots=True)
class MainFile:
    """The main file of a compile: where TeX runs and what its job is called.

    ``path`` is a checked project path ending in ``.tex``; ``folder`` is ``""`` at the root.
    """

    path: str

    @property
    def folder(self) -> str:
        """The main file's folder, relative to the project root (the programs' cwd)."""
        return self.path.rpartition("/")[0]

    @property
    def name(self) -> str:
        """The main file's own name, as TeX is given it (after ``./``)."""
        return self.path.rpartition("/")[2]

    @property
    def job_name(self) -> str:
        """TeX's job name: the base name without ``.tex``."""
        return self.name.removesuffix(".tex")

    def in_project(self, name: str) -> str:
        """The project path of ``name``, a file in the main file's folder."""
        return f"{self.folder}/{name}" if self.folder else name


@dataclass(frozen=True, slots=True)
class OutputNames:
    """The files a compile leaves beside the main file, as project paths."""

    pdf: str
    log: str
    aux: str
    bcf: str
    synctex: str
    """What TeX engines write (uncompressed)."""
    synctex_gz: str
    """What Tectonic writes (gzip), and the name of the file every compile offers."""
    bbl: str


def output_names(main: MainFile) -> OutputNames:
    """Every engine, Tectonic included, names its outputs after the job name."""
    stem = main.in_project(main.job_name)
    return OutputNames(
        pdf=f"{stem}.pdf",
        log=f"{stem}.log",
        aux=f"{stem}.aux",
        bcf=f"{stem}.bcf",
        synctex=f"{stem}.synctex",
        synctex_gz=f"{stem}.synctex.gz",
        bbl=f"{stem}.bbl",
    )


def engine_argv(engine: Engine, main: MainFile, *, with_format: bool = False) -> list[str]:
    """The command line of one engine pass, run in ``main.folder``; ``with_format``: start
    from the preamble format at ``FORMAT_FILE`` (see ``tex_environment``)."""
    if engine is Engine.TECTONIC:
        return [
            TECTONIC_BIN,
            "-X",
            "compile",
            "--untrusted",
            "--only-cached",
            "--bundle",
            TECTONIC_BUNDLE,
            "--keep-logs",
            # The .bbl stays beside the PDF (an output file); the sandbox is discarded anyway.
            "--keep-intermediates",
            "--synctex",
            "--outdir",
            ".",
            f"./{main.name}",
        ]
    fmt = [f"-fmt={FORMAT_NAME}"] if with_format else []
    return [*_ENGINE_FLAGS[engine], *fmt, f"./{main.name}"]


_DUMP_CODE = (
    r"\catcode`\@=11 \catcode`\_=11 "
    r"\let\texpipe@dump\dump \let\texpipe@constdef{constdef} "
    # LaTeX3's clock constants, as its first job sets them, from \time, \day, ...
    r"\def\texpipe@clock{{\begingroup\count@\time\divide\count@ 60 "
    r"\global\texpipe@constdef\c_sys_hour_int\count@ \multiply\count@ -60 "
    r"\advance\count@\time \global\texpipe@constdef\c_sys_minute_int\count@ "
    r"\global\texpipe@constdef\c_sys_day_int\day "
    r"\global\texpipe@constdef\c_sys_month_int\month "
    r"\global\texpipe@constdef\c_sys_year_int\year\endgroup}}"
    # pgf seeds its random numbers with \time*\year when it loads: a seed still equal to
    # that (nothing drew a number, no \pgfmathsetseed) is set again by each job, as LaTeX3's.
    r"\def\texpipe@seed{{\begingroup\count@\time\multiply\count@\year"
    r"\ifnum\count@=0 \count@=1 \fi\xdef\texpipe@value{{\the\count@}}\endgroup}}"
    r"\def\texpipe@pgfseed{{\texpipe@seed\global\let\pgfmath@rnd@z\texpipe@value}}"
    r"\def\texpipe@pgf{{\ifdefined\pgfmath@rnd@z\texpipe@seed"
    r"\ifx\texpipe@value\pgfmath@rnd@z\gdef\pgfmath@rnd@z{{1}}"
    r"\global\everyjob\expandafter{{\expandafter\texpipe@pgfseed\the\everyjob}}\fi"
    r"\gdef\texpipe@value{{}}\fi}}"
    # At the dump: a fixed clock (the format's ident and integers), the constants computed
    # again by every job that loads the format, and the line the preamble ended on.
    r"\def\dump{{\texpipe@pgf\year=2000 \month=1 \day=1 \time=0 \texpipe@clock"
    r"\everyjob\expandafter{{\expandafter\texpipe@clock\the\everyjob}}"
    r"\message{{texpipe-dump-line:\the\inputlineno}}\texpipe@dump}}"
    # What the preamble sees: a clock that differs between the two dumps.
    r"{clock}\texpipe@clock"
    r"\catcode`\@=12 \catcode`\_=8 \input mylatexformat.ltx {wrapper}"
)
DUMP_CLOCKS = (r"\year=2001 \month=2 \day=3 \time=245 ", r"\year=2002 \month=3 \day=4 \time=306 ")
"""The clocks the two dumps of a preamble show it (same digit counts: the same memory)."""
_DUMP_PROGRAMS = {
    Engine.PDFLATEX: ("pdflatex", r"\mathchardef"),  # how LaTeX3 defines its constants there
    Engine.XELATEX: ("xelatex", r"\chardef"),
}


def dump_argv(engine: Engine, main: MainFile, clock: str) -> list[str]:
    """Dump the main file's preamble into ``DUMP_DIR/<job>.fmt`` with mylatexformat (TeX
    Live's texlive-latex-extra), run in ``main.folder``; ``clock`` is one of ``DUMP_CLOCKS``.

    The job name is the document's own (``\\jobname`` in the preamble means the same),
    progname and flags those of a pass. ``\\dump`` is wrapped so that the format holds no
    date (see ``_DUMP_CODE``); the log says ``texpipe-dump-line:N``, the main file's line at
    the dump. mylatexformat then reads ``DUMP_WRAPPER`` (``dump_wrapper``), which reads the
    main file: ``main.name`` must be plain (``dumpable_name``), TeX's ``\\input`` reads it.
    """
    program, constdef = _DUMP_PROGRAMS[engine]
    code = _DUMP_CODE.format(
        constdef=constdef, clock=clock, wrapper=f"{PROJECT_DIR}/{DUMP_WRAPPER}"
    )
    return [
        program, "-ini", *_COMMON_FLAGS, f"-output-directory={PROJECT_DIR}/{DUMP_DIR}",
        f"-jobname={main.job_name}", f"&{program}", code,
    ]  # fmt: skip


def dump_wrapper(main: MainFile) -> bytes:
    """The content of ``DUMP_WRAPPER`` for ``main`` (a plain name, see ``dump_argv``)."""
    return (
        b"\\catcode`\\@=11 \\let\\MYLATEX@fontpreloading\\relax \\catcode`\\@=12 "
        + f"\\input ./{main.name}\n".encode()
    )


def bibtex_argv(main: MainFile) -> list[str]:
    """BibTeX over the job's .aux (it finds the .bib files through kpathsea); ``./`` so that a
    job name like ``-min-crossrefs=1`` is a file, never an option."""
    return ["bibtex", f"./{main.job_name}"]


def biber_argv(main: MainFile) -> list[str]:
    """Biber over the job's .bcf (``./``: a name is never an option)."""
    return ["biber", "--quiet", f"./{main.job_name}"]


def makeindex_argv(source: str, output: str, *, style: str | None, log: str | None) -> list[str]:
    """makeindex over ``source`` (an .idx, .glo or .nlo file in the cwd) into ``output``.

    ``style``: an .ist file (the project's, or a TeX Live one such as ``nomencl.ist``);
    ``log``: the transcript (``-t``), else makeindex's default ``.ilg``.
    """
    argv = ["makeindex", "-q"]
    if style is not None:
        argv += ["-s", style]
    if log is not None:
        argv += ["-t", log]
    return [*argv, "-o", output, source]


def xindy_argv(source: str, output: str, *, module: str, language: str, codepage: str,
               log: str) -> list[str]:  # fmt: skip
    """xindy as makeglossaries runs it, for glossaries that ask for xindy (an .xdy style)."""
    return ["xindy", "-L", language, "-C", codepage, "-I", "xindy", "-M", module,
            "-t", log, "-o", output, source]  # fmt: skip


_SYSTEM_TEXMF = "{$TEXMFSYSCONFIG,!!$TEXMFSYSVAR,!!$TEXMFDEBIAN,!!$TEXMFDIST}"
"""The installation's own trees (read-only in the sandbox): not the current folder, nor the
job's writable TEXMFHOME/TEXMFVAR/TEXMFCONFIG."""


def tex_environment(source_date_epoch: int, *, with_format: bool = False) -> dict[str, str]:
    """The whole environment of every TeX process: nothing from the service leaks in.

    The engine's own files are looked up in the installation only: kpathsea's defaults start
    these paths with the current folder, where a project's ``pdflatex.fmt`` (a memory image
    of the engine), ``pdftex.map``, pool or ``texmf.cnf`` would replace the engine's, and a
    project's ``.so`` would be a Lua C module. Paths of what a document legitimately brings
    (TEXINPUTS, BIBINPUTS, fonts, LUAINPUTS) keep ``.`` first. Tectonic finds its files in its
    bundle and the project (its own lookup, not kpathsea's). ``with_format``: the compiler's
    own format folder first (``FORMAT_NAME`` is no installed format's name).
    """
    formats = f"{FORMAT_DIR}:" if with_format else ""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": HOME_DIR,
        "TMPDIR": TMP_DIR,
        "LANG": "C.UTF-8",
        "TEXMFVAR": TEXMF_VAR_DIR,
        "TEXMFCONFIG": f"{TEXMF_VAR_DIR}/config",
        "VARTEXFONTS": f"{TEXMF_VAR_DIR}/fonts",
        "TECTONIC_CACHE_DIR": TECTONIC_CACHE_DIR,
        "TECTONIC_UNTRUSTED_MODE": "1",
        # kpathsea: no dot-file reads or writes, no shell escape at all. Not "paranoid" (p):
        # TeX runs in the main file's folder and may read ../shared/x.tex of its own project;
        # the sandbox, not kpathsea, bounds what exists (only the job's tmpfs is writable).
        "openin_any": "r",
        "openout_any": "r",
        "shell_escape": "f",
        "TEXMFCNF": "/etc/texmf/web2c:/usr/share/texlive/texmf-dist/web2c",
        "TEXFORMATS": formats + _SYSTEM_TEXMF + "/web2c{/$engine,}",
        "TEXPOOL": _SYSTEM_TEXMF + "/web2c",
        "TEXFONTMAPS": _SYSTEM_TEXMF + "/fonts/map/{$progname,pdftex,dvips,}//",
        "CLUAINPUTS": "$SELFAUTOLOC/lib/{$progname,$engine,}/lua//",
        # Unwrapped log lines make errors parseable.
        "max_print_line": "10000",
        "error_line": "254",
        "half_error_line": "238",
        # Reproducible PDFs: fixed dates and IDs.
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "FORCE_SOURCE_DATE": "1",
    }
