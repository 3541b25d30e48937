"""Command lines and environment of the TeX programs (what reaches TeX and what does not)."""

import pytest
from texpipe_compiler import latex_commands as cmd
from texpipe_contracts.v1 import Engine


@pytest.mark.parametrize("engine", [Engine.PDFLATEX, Engine.XELATEX, Engine.LUALATEX])
def test_every_engine_runs_safe_and_non_interactive(engine: Engine) -> None:
    argv = cmd.engine_argv(engine, cmd.MainFile("main.tex"))
    for flag in (
        "-no-shell-escape",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
    ):
        assert flag in argv
    assert not any(a.startswith("-jobname") for a in argv), "the job name is the file's own"
    assert argv[-1] == "./main.tex", "the main file can never be read as an option"
    assert not any("shell-escape" in a and a != "-no-shell-escape" for a in argv)


@pytest.mark.parametrize("engine", list(Engine))
def test_every_engine_writes_synctex(engine: Engine) -> None:
    """TeX engines write it plain (the compiler compresses it), Tectonic compressed."""
    argv = cmd.engine_argv(engine, cmd.MainFile("main.tex"))
    assert ("--synctex" if engine is Engine.TECTONIC else "-synctex=-1") in argv
    names = cmd.output_names(cmd.MainFile("paper/main.tex"))
    assert (names.synctex, names.synctex_gz) == ("paper/main.synctex", "paper/main.synctex.gz")


def test_lualatex_has_no_sockets() -> None:
    assert "--nosocket" in cmd.engine_argv(Engine.LUALATEX, cmd.MainFile("main.tex"))


def test_tectonic_is_untrusted_offline_and_keeps_its_log() -> None:
    argv = cmd.engine_argv(Engine.TECTONIC, cmd.MainFile("paper/main.tex"))
    assert argv[0] == cmd.TECTONIC_BIN
    assert {"--untrusted", "--only-cached", "--keep-logs"} <= set(argv)
    assert argv[argv.index("--bundle") + 1] == cmd.TECTONIC_BUNDLE
    assert argv[-1] == "./main.tex", "it runs in the main file's folder"


def test_outputs_are_named_after_the_main_file_beside_it() -> None:
    main = cmd.MainFile("paper/My Thesis.tex")
    assert (main.folder, main.name, main.job_name) == ("paper", "My Thesis.tex", "My Thesis")
    names = cmd.output_names(main)
    assert (names.pdf, names.log) == ("paper/My Thesis.pdf", "paper/My Thesis.log")
    assert cmd.output_names(cmd.MainFile("thesis.tex")).aux == "thesis.aux"
    assert cmd.bibtex_argv(main) == ["bibtex", "./My Thesis"]
    assert cmd.biber_argv(cmd.MainFile("--tool.tex"))[-1] == "./--tool"


def test_index_processors_read_files_by_dot_slash_paths() -> None:
    argv = cmd.makeindex_argv("./-x.idx", "./-x.ind", style=None, log=None)
    assert argv[-1] == "./-x.idx"
    assert argv[argv.index("-o") + 1] == "./-x.ind"


def test_the_environment_is_built_from_nothing() -> None:
    env = cmd.tex_environment(1234)
    assert env["openin_any"] == env["openout_any"] == "r", "no dot files; the sandbox bounds"
    assert env["shell_escape"] == "f"
    assert env["SOURCE_DATE_EPOCH"] == "1234"
    assert env["FORCE_SOURCE_DATE"] == "1"
    assert env["HOME"].startswith(cmd.WORK_ROOT)
    assert env["TEXMFVAR"].startswith(cmd.WORK_ROOT)
    assert env["VARTEXFONTS"].startswith(cmd.WORK_ROOT)
    assert not any(key.startswith(("TEXPIPE_", "AWS_")) for key in env)
