"""What a job's state means for the user: its exit code and the lines that explain it.

Everything here is pure. Text that comes from the compile log (error messages, file names,
excerpts) was written by the document, so it is stripped of terminal control sequences before
it is shown: a document must not be able to move the cursor or retitle the terminal.
"""

import re

from texpipe_contracts.jobs import JobState

from texpipe_cli.errors import Exit
from texpipe_cli.models import LATEX_FAILURES, Diagnostic, DocumentEvent, Job

# C0 controls except tab and newline, DEL, and the C1 range (ESC sequences start with one).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
EXCERPT_LINES = 12


def sanitize(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN`` instead of acting on a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_NEWER_REVISION = frozenset({JobState.STALE, JobState.SUPERSEDED})


def exit_for_state(state: str) -> Exit:
    """0 applied (or not final yet), 1 the LaTeX failed, 4 a newer revision took over,
    3 service trouble."""
    if state in (JobState.APPLIED, JobState.QUEUED):
        return Exit.OK
    if state in LATEX_FAILURES:
        return Exit.LATEX_FAILURE
    if state in _NEWER_REVISION:
        return Exit.SUPERSEDED
    return Exit.SERVICE  # dead, cancelled, and any state this CLI does not know


def error_location(job: Job) -> str:
    """``file:line: message`` (as compilers print it), or the error code and message."""
    error = job.error
    if error is None:
        return ""
    where = ""
    if error.file:
        where = f"{error.file}:{error.line}: " if error.line is not None else f"{error.file}: "
    message = error.message or error.code
    return sanitize(f"{where}{message}")


def _timing(job: Job) -> str:
    parts = []
    if job.duration_ms is not None:
        parts.append(f"compiled in {job.duration_ms} ms")
    if job.cache_hit:
        parts.append("from the cache")
    engine = " ".join(p for p in (job.engine, job.engine_version) if p)
    if engine:
        parts.append(sanitize(engine))
    return f" ({', '.join(parts)})" if parts else ""


def describe_job(job: Job) -> list[str]:
    """A few lines saying where the job stands and, when it failed, why."""
    head = f"job {job.id} (revision {job.revision}): {job.state}"
    if job.state == JobState.APPLIED:
        return [f"{head}{_timing(job)}"]
    if job.state == JobState.QUEUED:
        return [f"{head}, waiting for a compiler"]
    if job.state == JobState.STALE:
        return [f"{head}: a newer revision was submitted meanwhile, so this result was not applied"]
    if job.state == JobState.SUPERSEDED:
        return [
            f"{head}: a newer revision was sent before this one was compiled, so it was not"
            " compiled; the newer revision's job makes the document's PDF"
        ]
    if job.state == JobState.CANCELLED:
        return [f"{head}: cancelled before it finished (no PDF from it)"]
    if job.state == JobState.DEAD:
        reason = sanitize(job.dead_reason or "no reason given")
        return [f"{head}: the service gave up on this job ({reason})"]
    lines = [head + _timing(job)]
    if job.error is not None:
        lines.append(f"{error_location(job)} [{sanitize(job.error.code)}]")
        excerpt = [line for line in job.error.excerpt.splitlines() if line.strip()]
        lines.extend(f"  | {sanitize(line)}" for line in excerpt[:EXCERPT_LINES])
        if len(excerpt) > EXCERPT_LINES:
            lines.append(f"  | ... ({len(excerpt) - EXCERPT_LINES} more lines)")
    lines.append(f"full log: texpipe log {job.id}")
    return lines


def _diagnostic_line(entry: Diagnostic) -> str:
    where = ""
    if entry.file:
        where = f"{entry.file}:{entry.line}: " if entry.line is not None else f"{entry.file}: "
    return sanitize(f"{entry.severity} {where}{entry.message}")


def diagnostic_lines(job: Job) -> list[str]:
    """One line per error, warning and bad box of the log, ``severity file:line: message``
    (the log's order), and how many more there were when the list was cut."""
    lines = [_diagnostic_line(entry) for entry in job.diagnostics]
    if job.diagnostics_omitted:
        lines.append(
            f"... and {job.diagnostics_omitted} more in the log (texpipe log {sanitize(job.id)})"
        )
    return lines


def event_line(event: DocumentEvent) -> str:
    """One line per document event: ``[id] revision N ...`` or ``[id] job ID rN: state``
    (``state``: ``queued``, ``compiling``, then the final one)."""
    if event.kind == "revision":
        what = f"revision {event.revision} ({event.main}, {event.engine})"
    elif event.kind == "job":
        what = f"job {event.job_id} revision {event.revision}: {event.state}"
        if event.pages is not None:
            what += f" ({event.pages} pages, {event.size} bytes)"
        if event.error is not None:
            where = ""
            if event.error.file:
                line = f":{event.error.line}" if event.error.line is not None else ""
                where = f"{event.error.file}{line}: "
            what += f": {where}{event.error.message or event.error.code} [{event.error.code}]"
    else:
        what = f"{event.kind} (revision {event.revision})"
    return sanitize(f"[{event.id}] {what}")
