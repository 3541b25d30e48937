"""Command lines and environment of the TeX programs (what reaches TeX and what does not)."""

import pytest
from texpipe_compiler import latex_commands as cmd
from texpipe_contracts.v1 import Engine


@pytest.mark.parametrize("engine", [Engine.PDFLATEX, Engine.XELATEX, Engine.LUALATEX])
def test_every_engine_runs_safe_and_non_interactive(engine: Engine) -> None:
    argv = cmd.engine_argv(engine, "main.tex")
    for flag in (
        "-no-shell-escape",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
    ):
        assert flag in argv
    assert "-jobname=output" in argv
    assert argv[-1] == "./main.tex", "the main file can never be read as an option"
    assert not any("shell-escape" in a and a != "-no-shell-escape" for a in argv)


def test_lualatex_has_no_sockets() -> None:
    assert "--nosocket" in cmd.engine_argv(Engine.LUALATEX, "main.tex")


def test_tectonic_is_untrusted_offline_and_keeps_its_log() -> None:
    argv = cmd.engine_argv(Engine.TECTONIC, "paper/main.tex")
    assert argv[0] == cmd.TECTONIC_BIN
    assert {"--untrusted", "--only-cached", "--keep-logs"} <= set(argv)
    assert argv[argv.index("--bundle") + 1] == cmd.TECTONIC_BUNDLE
    assert argv[-1] == "./paper/main.tex"


def test_output_names_follow_the_fixed_job_name_except_for_tectonic() -> None:
    assert cmd.output_names(Engine.PDFLATEX, "paper/main.tex").pdf == "output.pdf"
    assert cmd.output_names(Engine.TECTONIC, "paper/thesis.tex").pdf == "thesis.pdf"
    assert cmd.output_names(Engine.TECTONIC, "paper/thesis.tex").log == "thesis.log"


def test_the_environment_is_built_from_nothing() -> None:
    env = cmd.tex_environment(1234)
    assert env["openin_any"] == env["openout_any"] == "p"
    assert env["shell_escape"] == "f"
    assert env["SOURCE_DATE_EPOCH"] == "1234"
    assert env["FORCE_SOURCE_DATE"] == "1"
    assert env["HOME"].startswith(cmd.WORK_ROOT)
    assert env["TEXMFVAR"].startswith(cmd.WORK_ROOT)
    assert env["VARTEXFONTS"].startswith(cmd.WORK_ROOT)
    assert not any(key.startswith(("TEXPIPE_", "AWS_")) for key in env)
