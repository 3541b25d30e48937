"""From a run to what users see: outcomes, codes, log text, output checks."""

import pytest
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.cgroups import LimitHit
from texpipe_compiler.latex_runner import RunOutcome, RunStatus, project_files_for
from texpipe_compiler.result_errors import error_for_run
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
    _, error = error_for_run(run(status, log=b"some log"), Engine.PDFLATEX)
    assert error is not None
    assert error.code is code


@pytest.mark.parametrize(
    ("limit", "word"), [(LimitHit.MEMORY, "memory"), (LimitHit.PROCESSES, "process")]
)
def test_a_kernel_limit_says_which(limit: LimitHit, word: str) -> None:
    outcome = RunOutcome(RunStatus.RESOURCE_LIMIT, None, b"", b"", 1, limit)
    _, error = error_for_run(outcome, Engine.LUALATEX)
    assert error is not None
    assert f"its {word} limit" in error.message


def test_a_failed_run_reports_the_first_error_from_the_log_without_control_sequences() -> None:
    log = b"\x1b[31m./main.tex:4: Undefined control sequence.\x1b[0m\nl.4 \\oops\n"
    text, error = error_for_run(run(RunStatus.FAILED, log=log), Engine.PDFLATEX)
    assert "\x1b" not in text
    assert error is not None
    assert (error.file, error.line, error.code) == ("main.tex", 4, ErrorCode.LATEX_ERROR)


def test_tectonic_errors_come_from_its_output() -> None:
    output = b"error: main.tex:4: Undefined control sequence\n"
    _, error = error_for_run(
        run(RunStatus.FAILED, log=b"! Undefined control sequence.\nl.4 x\n", output=output),
        Engine.TECTONIC,
    )
    assert error is not None
    assert (error.file, error.line) == ("main.tex", 4)


def test_shipped_outputs_are_dropped_and_a_shipped_bbl_serves_the_job_name() -> None:
    files = [
        ProjectFile("main.tex", b"x"),
        ProjectFile("main.bbl", b"bbl"),
        ProjectFile("output.pdf", b"stale"),
        ProjectFile("output.log", b"stale"),
    ]
    kept = {f.path: f.data for f in project_files_for(Engine.PDFLATEX, "main.tex", files)}
    assert kept == {"main.tex": b"x", "main.bbl": b"bbl", "output.bbl": b"bbl"}
    tectonic = {
        f.path
        for f in project_files_for(
            Engine.TECTONIC, "main.tex", [*files, ProjectFile("main.pdf", b"s")]
        )
    }
    assert "main.pdf" not in tectonic
    assert "output.bbl" not in tectonic
