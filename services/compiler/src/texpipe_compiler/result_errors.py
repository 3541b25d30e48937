"""From a finished run to the log users see and the error they are told about (pure)."""

from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileErrorInfo, Engine

from texpipe_compiler.cgroups import LimitHit
from texpipe_compiler.latex_runner import RunOutcome, RunStatus
from texpipe_compiler.log_parser import log_tail, parse_latex_log, sanitize_text


def simple_error(code: ErrorCode, message: str, excerpt: str = "") -> CompileErrorInfo:
    """An error that has no TeX location."""
    return CompileErrorInfo(code=code, message=message[:2000], excerpt=excerpt[:8000])


def error_for_run(run: RunOutcome, engine: Engine) -> tuple[str, CompileErrorInfo | None]:
    """(sanitized log text, error) of a run; the error is None when TeX succeeded."""
    log_text = sanitize_text(run.log)
    output_text = sanitize_text(run.output)
    shown = log_text or output_text
    if run.status is RunStatus.OK:
        return shown, None
    if run.status is RunStatus.TOO_LARGE:
        message = "the compile wrote more than the size limit allows (PDF or file size)"
        return shown, simple_error(ErrorCode.OUTPUT_TOO_LARGE, message, log_tail(shown))
    if run.status is RunStatus.CPU_LIMIT:
        message = "the compile used up its CPU time and was stopped"
        return shown, simple_error(ErrorCode.TIMEOUT, message, log_tail(shown))
    if run.status is RunStatus.RESOURCE_LIMIT:
        what = "memory" if run.limit is LimitHit.MEMORY else "process"
        message = f"the compile reached its {what} limit and was stopped"
        return shown, simple_error(ErrorCode.RESOURCE_LIMIT, message, log_tail(shown))
    if run.status is RunStatus.ABORTED:
        message = "the compile's sandbox stopped answering (the document broke it)"
        return shown, simple_error(ErrorCode.NO_OUTPUT, message, log_tail(shown))
    if run.status is RunStatus.NO_OUTPUT:
        message = "TeX finished without writing a PDF"
        return shown, simple_error(ErrorCode.NO_OUTPUT, message, log_tail(shown))
    # Tectonic prints located errors on its output; its log has them unlocated.
    texts = (output_text, log_text) if engine is Engine.TECTONIC else (log_text, output_text)
    for text in texts:
        found = parse_latex_log(text)
        if found is not None:
            return shown, CompileErrorInfo(
                code=found.code,
                message=found.message,
                file=found.file,
                line=found.line,
                excerpt=found.excerpt,
            )
    return shown, simple_error(ErrorCode.LATEX_ERROR, "TeX stopped with an error", log_tail(shown))
