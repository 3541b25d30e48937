"""The commands: compile, status, log, open, watch, cancel. Each returns the exit code."""

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from texpipe_contracts.jobs import JobState

from texpipe_cli import files
from texpipe_cli.client import ApiClient
from texpipe_cli.config import ApiConfig
from texpipe_cli.errors import ApiProblemError, Exit, ServiceError, UsageError
from texpipe_cli.models import Created, Job
from texpipe_cli.outcome import (
    describe_job,
    diagnostic_lines,
    event_line,
    exit_for_state,
    sanitize,
)
from texpipe_cli.progress import Progress
from texpipe_cli.state import DocumentState, read_state, write_bytes_atomically, write_state
from texpipe_cli.waiting import wait_for_final
from texpipe_cli.watching import watch_events


@dataclass(frozen=True, slots=True)
class Console:
    """Where the commands write: results on ``out``, progress and problems on ``err``."""

    out: TextIO
    err: TextIO
    out_bytes: BinaryIO | None = None

    def result(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def info(self, line: str) -> None:
        print(line, file=self.err, flush=True)


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """``texpipe compile`` arguments."""

    path: Path
    engine: str | None = None
    main: str | None = None
    wait: bool = False
    output: Path | None = None
    exclude: tuple[str, ...] = ()
    force: bool = False
    timeout_s: float = 600.0


async def _send(
    api: ApiClient,
    console: Console,
    state: DocumentState | None,
    body: dict[str, object],
    *,
    force: bool,
) -> Created:
    """A new revision of the remembered document, else a new document."""
    if state is not None and state.api_url == api.url:
        if_match = None if force else state.revision
        try:
            return await api.update_document(state.document_id, body, if_match=if_match)
        except ApiProblemError as exc:
            if exc.status == 412:
                current = exc.extra.get("current_revision", "?")
                raise UsageError(
                    f"document {state.document_id} is at revision {current}, but this folder "
                    f"last sent revision {state.revision}: someone else changed it. "
                    "Pass --force to replace it with these files."
                ) from exc
            if exc.status != 404:
                raise
            console.info(f"document {state.document_id} is gone from the api; creating a new one")
    return await api.create_document(body)


async def compile_command(config: ApiConfig, opts: CompileOptions, console: Console) -> Exit:
    """Send the file or folder, compile it, and with --wait (or -o) fetch the PDF."""
    output = (opts.output or files.default_output(opts.path)).resolve()
    project = await asyncio.to_thread(
        files.load_project, opts.path, main=opts.main, output=output, exclude=opts.exclude
    )
    state = await asyncio.to_thread(read_state, project.state_path)
    body: dict[str, object] = {"files": files.encode_files(project.files), "compile": True}
    if project.main is not None:
        body["main"] = project.main
    if opts.engine:
        body["engine"] = opts.engine
    async with ApiClient(config) as api:
        created = await _send(api, console, state, body, force=opts.force)
        if created.job_id is None:
            raise ServiceError("the api accepted the files but started no compile job")
        await asyncio.to_thread(
            write_state,
            project.state_path,
            DocumentState(api.url, created.id, created.revision, created.job_id),
        )
        what = (
            f"created document {created.id}"
            if created.revision == 1
            else f"sent revision {created.revision} of document {created.id}"
        )
        console.info(
            f"{what} ({len(project.files)} files, main {created.main or project.main});"
            f" job {created.job_id}"
        )
        if not (opts.wait or opts.output):
            console.result(created.job_id)
            return Exit.OK
        job = await _wait(api, created.job_id, console, opts.timeout_s, JobState.QUEUED)
        code = exit_for_state(job.state)
        if code is not Exit.OK:
            for line in describe_job(job) + diagnostic_lines(job):
                console.info(line)
            return code
        for line in [describe_job(job)[0], *diagnostic_lines(job)]:
            console.info(line)
        pdf = await api.download_pdf(created.id)
    await asyncio.to_thread(write_bytes_atomically, output, pdf)
    console.result(f"wrote {output} ({len(pdf)} bytes)")
    return Exit.OK


async def _wait(
    api: ApiClient, job_id: str, console: Console, timeout_s: float, first_state: str
) -> Job:
    progress = Progress(console.err)
    try:
        return await wait_for_final(
            api, job_id, progress, timeout_s=timeout_s, first_state=first_state
        )
    finally:
        await progress.close()


def _remembered(target: str, api_url: str) -> DocumentState:
    """The state ``texpipe compile`` left for the file or folder ``target``."""
    path = Path(target)
    if not path.exists():
        raise UsageError(f"{target!r} is neither an id nor a file or folder")
    state = read_state(files.state_path(path))
    if state is None:
        raise UsageError(f"{target}: never compiled with texpipe (no {files.STATE_DIR} state)")
    if state.api_url != api_url:
        raise UsageError(f"{target} was sent to {state.api_url}, not to {api_url}")
    return state


def resolve_job_id(target: str, api_url: str) -> str:
    """A job id as given, or the last job of a compiled file or folder."""
    try:
        return str(uuid.UUID(target))
    except ValueError:
        pass
    job_id = _remembered(target, api_url).job_id
    if job_id is None:
        raise UsageError(f"{target}: no job remembered")
    return job_id


def resolve_document_id(target: str, api_url: str) -> str:
    """A document id as given, or the document a file or folder became."""
    try:
        return str(uuid.UUID(target))
    except ValueError:
        return _remembered(target, api_url).document_id


async def status_command(
    config: ApiConfig, target: str, console: Console, *, wait: bool, timeout_s: float
) -> Exit:
    """Print where a job stands; the exit code says it too."""
    job_id = resolve_job_id(target, config.url)
    async with ApiClient(config) as api:
        job = await api.get_job(job_id)
        if wait and not job.final:
            job = await _wait(api, job_id, console, timeout_s, job.state)
    for line in describe_job(job) + diagnostic_lines(job):
        console.result(line)
    return exit_for_state(job.state)


async def log_command(config: ApiConfig, target: str, console: Console) -> Exit:
    """Print a job's compile log (made harmless for a terminal, raw into a pipe)."""
    job_id = resolve_job_id(target, config.url)
    async with ApiClient(config) as api:
        data = await api.job_log(job_id)
    if console.out_bytes is not None and not console.out.isatty():
        console.out.flush()
        console.out_bytes.write(data)
        console.out_bytes.flush()
    else:
        console.out.write(sanitize(data.decode("utf-8", errors="replace")))
        console.out.flush()
    return Exit.OK


async def open_command(config: ApiConfig, target: str, console: Console) -> Exit:
    """Print the URL of the document's current PDF (a presigned link; not followed)."""
    document_id = resolve_document_id(target, config.url)
    async with ApiClient(config) as api:
        console.result(await api.pdf_location(document_id))
    return Exit.OK


async def watch_command(
    config: ApiConfig, target: str, console: Console, *, after: int | None
) -> Exit:
    """Print the document's events, one line each, as they happen (until interrupted)."""
    document_id = resolve_document_id(target, config.url)
    async with ApiClient(config) as api:
        await watch_events(
            api,
            document_id,
            lambda event: console.result(event_line(event)),
            console.info,
            after=after,
        )
    return Exit.OK


async def cancel_command(config: ApiConfig, target: str, console: Console) -> Exit:
    """Cancel a queued or compiling job (exit 2 when it is already final)."""
    job_id = resolve_job_id(target, config.url)
    async with ApiClient(config) as api:
        try:
            job = await api.cancel_job(job_id)
        except ApiProblemError as exc:
            if exc.status == 409:
                state = sanitize(str(exc.extra.get("job_state", "final")))
                raise UsageError(f"job {job_id} is already {state}: nothing to cancel") from exc
            raise
    console.result(describe_job(job)[0])
    return Exit.OK
