"""From a finished run to the log users see, the error they are told about and the
diagnostics of the log (pure)."""

from dataclasses import dataclass

from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileErrorInfo, Diagnostic, Diagnostics, Engine

from texpipe_compiler.cgroups import LimitHit
from texpipe_compiler.latex_runner import RunOutcome, RunStatus
from texpipe_compiler.log_parser import (
    LatexError,
    LogReport,
    log_tail,
    parse_latex_log,
    parse_tectonic_output,
    sanitize_text,
)


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a run tells its users: the log text to store, the error (None when TeX
    succeeded) and the log's diagnostics (None when there was no log to read)."""

    log_text: str
    error: CompileErrorInfo | None
    diagnostics: Diagnostics | None


_FAILURES: dict[RunStatus, tuple[ErrorCode, str]] = {
    RunStatus.TOO_LARGE: (
        ErrorCode.OUTPUT_TOO_LARGE,
        "the compile wrote more than the size limit allows (PDF or file size)",
    ),
    RunStatus.CPU_LIMIT: (
        ErrorCode.TIMEOUT,
        "the compile used up its CPU time and was stopped",
    ),
    RunStatus.ABORTED: (
        ErrorCode.NO_OUTPUT,
        "the compile's sandbox stopped answering (the document broke it)",
    ),
    RunStatus.NO_OUTPUT: (ErrorCode.NO_OUTPUT, "TeX finished without writing a PDF"),
}
"""Runs that ended without a TeX error to read: their code and message."""


def simple_error(code: ErrorCode, message: str, excerpt: str = "") -> CompileErrorInfo:
    """An error that has no TeX location."""
    return CompileErrorInfo(code=code, message=message[:2000], excerpt=excerpt[:8000])


def _diagnostics(report: LogReport) -> Diagnostics:
    items = [
        Diagnostic(severity=e.severity, file=e.file, line=e.line, message=e.message)
        for e in report.diagnostics
    ]
    return Diagnostics(items=items, omitted=report.omitted)


def _located(found: LatexError) -> CompileErrorInfo:
    return CompileErrorInfo(
        code=found.code,
        message=found.message,
        file=found.file,
        line=found.line,
        excerpt=found.excerpt,
    )


def report_for_run(run: RunOutcome, engine: Engine) -> RunReport:
    """The log text, error and diagnostics of a run (the diagnostics come from the TeX log,
    whatever the outcome)."""
    log_text = sanitize_text(run.log)
    output_text = sanitize_text(run.output)
    shown = log_text or output_text
    parsed = parse_latex_log(log_text) if log_text else None
    diagnostics = _diagnostics(parsed) if parsed is not None else None
    if run.status is RunStatus.OK:
        return RunReport(shown, None, diagnostics)
    if run.status is RunStatus.RESOURCE_LIMIT:
        what = "memory" if run.limit is LimitHit.MEMORY else "process"
        message = f"the compile reached its {what} limit and was stopped"
        error = simple_error(ErrorCode.RESOURCE_LIMIT, message, log_tail(shown))
        return RunReport(shown, error, diagnostics)
    if run.status in _FAILURES:
        code, message = _FAILURES[run.status]
        return RunReport(shown, simple_error(code, message, log_tail(shown)), diagnostics)
    # Tectonic prints located errors on its output; its log has them unlocated.
    found = (parse_tectonic_output(output_text) if engine is Engine.TECTONIC else None) or (
        parsed.error if parsed is not None else None
    )
    if found is None and engine is not Engine.TECTONIC:
        found = parse_latex_log(output_text).error
    if found is not None:
        return RunReport(shown, _located(found), diagnostics)
    error = simple_error(ErrorCode.LATEX_ERROR, "TeX stopped with an error", log_tail(shown))
    return RunReport(shown, error, diagnostics)
