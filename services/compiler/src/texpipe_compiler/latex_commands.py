"""The command lines and the environment of every TeX program a compile runs (pure).

Flags come from one table per engine. Every run is non-interactive, stops at the first
error, reports errors as ``file:line:``, has shell escape off and reads its main file by a
``./`` path (a name can never be read as an option). The job name is fixed (``output``) so
that the PDF's /ID, which TeX derives from it, is the same for the same source.
"""

from dataclasses import dataclass

from texpipe_contracts.v1 import Engine

JOB_NAME = "output"
WORK_ROOT = "/work"
PROJECT_DIR = f"{WORK_ROOT}/project"
HOME_DIR = f"{WORK_ROOT}/home"
TEXMF_VAR_DIR = f"{WORK_ROOT}/texmf-var"
TECTONIC_ROOT = "/opt/tectonic"
TECTONIC_CACHE_DIR = f"{TECTONIC_ROOT}/cache"  # read-only: the format was built at install
TMP_DIR = f"{WORK_ROOT}/tmp"  # noqa: S108 (inside the sandbox's own tmpfs)
TECTONIC_BIN = f"{TECTONIC_ROOT}/bin/tectonic"
TECTONIC_BUNDLE = f"{TECTONIC_ROOT}/bundle"

_COMMON_FLAGS = (
    "-no-shell-escape",
    "-interaction=nonstopmode",
    "-halt-on-error",
    "-file-line-error",
    f"-jobname={JOB_NAME}",
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
class OutputNames:
    """The files a compile leaves in the project directory."""

    pdf: str
    log: str
    aux: str
    bcf: str


def output_names(engine: Engine, main_file: str) -> OutputNames:
    """Tectonic names its outputs after the main file; the other engines use JOB_NAME."""
    stem = (
        main_file.rsplit("/", 1)[-1].removesuffix(".tex") if engine is Engine.TECTONIC else JOB_NAME
    )
    return OutputNames(pdf=f"{stem}.pdf", log=f"{stem}.log", aux=f"{stem}.aux", bcf=f"{stem}.bcf")


def engine_argv(engine: Engine, main_file: str) -> list[str]:
    """The command line of one engine pass over ``main_file`` (a checked project path)."""
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
            "--outdir",
            ".",
            f"./{main_file}",
        ]
    return [*_ENGINE_FLAGS[engine], f"./{main_file}"]


def bibtex_argv() -> list[str]:
    """BibTeX over the job's .aux (it finds the .bib files through kpathsea, paranoid)."""
    return ["bibtex", JOB_NAME]


def biber_argv() -> list[str]:
    """Biber over the job's .bcf."""
    return ["biber", "--quiet", JOB_NAME]


_SYSTEM_TEXMF = "{$TEXMFSYSCONFIG,!!$TEXMFSYSVAR,!!$TEXMFDEBIAN,!!$TEXMFDIST}"
"""The installation's own trees (read-only in the sandbox): not the current folder, nor the
job's writable TEXMFHOME/TEXMFVAR/TEXMFCONFIG."""


def tex_environment(source_date_epoch: int) -> dict[str, str]:
    """The whole environment of every TeX process: nothing from the service leaks in.

    The engine's own files are looked up in the installation only: kpathsea's defaults start
    these paths with the current folder, where a project's ``pdflatex.fmt`` (a memory image
    of the engine), ``pdftex.map``, pool or ``texmf.cnf`` would replace the engine's, and a
    project's ``.so`` would be a Lua C module. Paths of what a document legitimately brings
    (TEXINPUTS, BIBINPUTS, fonts, LUAINPUTS) keep ``.`` first. Tectonic finds its files in its
    bundle and the project (its own lookup, not kpathsea's).
    """
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
        # kpathsea: no absolute or ../ or dot-file reads and writes; no shell escape at all.
        "openin_any": "p",
        "openout_any": "p",
        "shell_escape": "f",
        "TEXMFCNF": "/etc/texmf/web2c:/usr/share/texlive/texmf-dist/web2c",
        "TEXFORMATS": _SYSTEM_TEXMF + "/web2c{/$engine,}",
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
