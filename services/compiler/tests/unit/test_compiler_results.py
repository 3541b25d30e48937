"""From a run to what users see: outcomes, codes, log text, output checks."""

import pytest
from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.cgroups import LimitHit
from texpipe_compiler.latex_runner import RunOutcome, RunStatus, project_files_for
from texpipe_compiler.result_errors import report_for_run
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import Engine


def run(status: RunStatus, log: bytes = b"", output: bytes = b"") -> RunOutcome:
    return RunOutcome(status=status, pdf=None, log=log, output=output, passes=1)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RunStatus.TOO_LARGE, ErrorCode.OUTPUT_TOO_LARGE),
        (RunStatus.CPU_LIMIT, ErrorCode.TIMEOUT),
        (RunStatus.NO_OUTPUT, ErrorCode.NO_OUTPUT),
        (RunStatus.FAILED, ErrorCode.LATEX_ERROR),
        (RunStatus.RESOURCE_LIMIT, ErrorCode.RESOURCE_LIMIT),
    ],
)
def test_each_failure_has_its_code(status: RunStatus, code: ErrorCode) -> None:
    report = report_for_run(run(status, log=b"some log"), Engine.PDFLATEX)
    assert report.error is not None
    assert report.error.code is code


@pytest.mark.parametrize(
    ("limit", "word"), [(LimitHit.MEMORY, "memory"), (LimitHit.PROCESSES, "process")]
)
def test_a_kernel_limit_says_which(limit: LimitHit, word: str) -> None:
    outcome = RunOutcome(RunStatus.RESOURCE_LIMIT, None, b"", b"", 1, limit)
    error = report_for_run(outcome, Engine.LUALATEX).error
    assert error is not None
    assert f"its {word} limit" in error.message


def test_a_failed_run_reports_the_first_error_from_the_log_without_control_sequences() -> None:
    log = b"(./main.tex\n\x1b[31m./main.tex:4: Undefined control sequence.\x1b[0m\nl.4 \\oops\n"
    report = report_for_run(run(RunStatus.FAILED, log=log), Engine.PDFLATEX)
    error = report.error
    assert "\x1b" not in report.log_text
    assert error is not None
    assert (error.file, error.line, error.code) == ("main.tex", 4, ErrorCode.LATEX_ERROR)


def test_tectonic_errors_come_from_its_output() -> None:
    output = b"error: main.tex:4: Undefined control sequence\n"
    error = report_for_run(
        run(RunStatus.FAILED, log=b"! Undefined control sequence.\nl.4 x\n", output=output),
        Engine.TECTONIC,
    ).error
    assert error is not None
    assert (error.file, error.line) == ("main.tex", 4)


def test_shipped_outputs_are_dropped_and_a_shipped_bbl_is_kept() -> None:
    files = [
        ProjectFile("paper/main.tex", b"x"),
        ProjectFile("paper/main.bbl", b"bbl"),
        ProjectFile("paper/main.pdf", b"stale"),
        ProjectFile("paper/main.log", b"stale"),
        ProjectFile("main.pdf", b"a figure"),
    ]
    kept = {f.path: f.data for f in project_files_for(cmd.MainFile("paper/main.tex"), files)}
    assert kept == {"paper/main.tex": b"x", "paper/main.bbl": b"bbl", "main.pdf": b"a figure"}


def test_every_run_with_a_log_carries_its_diagnostics() -> None:
    log = (
        b"(./main.tex\nLaTeX Warning: Citation `x' on page 1 undefined on input line 3.\n\n"
        b"Overfull \\hbox (2.0pt too wide) in paragraph at lines 5--6\n[]\\OT1/cmr/m/n/10 x\n\n"
    )
    for status in (RunStatus.OK, RunStatus.CPU_LIMIT, RunStatus.FAILED):
        diagnostics = report_for_run(run(status, log=log), Engine.PDFLATEX).diagnostics
        assert diagnostics is not None
        assert [(d.severity.value, d.file, d.line) for d in diagnostics.items] == [
            ("warning", "main.tex", 3),
            ("badbox", "main.tex", 5),
        ]
    aborted = report_for_run(run(RunStatus.ABORTED, output=b"sandbox died"), Engine.PDFLATEX)
    assert aborted.diagnostics is None
