"""``texpipe watch`` and ``texpipe cancel`` against a stand-in api over real HTTP: a stream
that drops mid-way is resumed after the last event, losing none and repeating none."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from texpipe_cli.cli import main
from texpipe_cli.client import ApiClient
from texpipe_cli.config import ApiConfig
from texpipe_cli.models import DocumentEvent
from texpipe_cli.outcome import event_line
from texpipe_cli.watching import watch_events

TOKEN = "tenant-token"
DOC = str(uuid.uuid4())
JOB = str(uuid.uuid4())
EVENTS = [
    ("revision", {"revision": 1, "main": "main.tex", "engine": "pdflatex", "at": "t"}),
    ("job", {"job_id": JOB, "revision": 1, "state": "queued", "at": "t"}),
    ("job", {"job_id": JOB, "revision": 1, "state": "failed", "at": "t",
             "error": {"code": "LATEX_ERROR", "message": "Undefined", "file": "main.tex",
                       "line": 3}}),
    ("job", {"job_id": JOB, "revision": 1, "state": "cancelled", "at": "t"}),
]  # fmt: skip


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A stand-in api: the first stream breaks after two events, later ones send the rest
    after Last-Event-ID and then only heartbeats. Yields (url, Last-Event-IDs received)."""
    resumed_from: list[str | None] = []
    cancels: list[str] = []

    async def events(request: web.Request) -> web.StreamResponse:
        last = request.headers.get("Last-Event-ID")
        resumed_from.append(last)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"retry: 100\n\n")
        start = int(last or 0)
        for seq, (kind, data) in enumerate(EVENTS[start:], start + 1):
            await response.write(f"id: {seq}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode())
            if len(resumed_from) == 1 and seq == 2:
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-stream
                return response
        while True:
            await response.write(b": keepalive\n\n")
            await asyncio.sleep(0.1)

    async def cancel(request: web.Request) -> web.Response:
        cancels.append(request.match_info["job_id"])
        if len(cancels) > 1:
            body = {"status": 409, "code": "JOB_FINAL", "title": "final", "job_state": "cancelled"}
            return web.json_response(body, status=409, content_type="application/problem+json")
        job = {"id": JOB, "document_id": DOC, "revision": 1, "state": "cancelled"}
        return web.json_response(job)

    app = web.Application()
    app.router.add_get("/v1/documents/{document_id}/events", events)
    app.router.add_post("/v1/jobs/{job_id}/cancel", cancel)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", resumed_from
    await runner.cleanup()


async def test_watch_resumes_after_a_dropped_stream_without_loss_or_repeat(
    stub: tuple[str, list[str | None]],
) -> None:
    url, resumed_from = stub
    seen: list[DocumentEvent] = []
    notes: list[str] = []
    done = asyncio.Event()

    def on_event(event: DocumentEvent) -> None:
        seen.append(event)
        if len(seen) == len(EVENTS):
            done.set()

    async with ApiClient(ApiConfig(url, TOKEN)) as api:
        watching = asyncio.create_task(watch_events(api, DOC, on_event, notes.append))
        async with asyncio.timeout(10):
            await done.wait()
        watching.cancel()
    assert [e.id for e in seen] == [1, 2, 3, 4]
    assert resumed_from == [None, "2"]
    assert "reconnecting after event 2" in notes[0]
    assert [event_line(e) for e in seen] == [
        "[1] revision 1 (main.tex, pdflatex)",
        f"[2] job {JOB} revision 1: queued",
        f"[3] job {JOB} revision 1: failed: main.tex:3: Undefined [LATEX_ERROR]",
        f"[4] job {JOB} revision 1: cancelled",
    ]


async def test_cancel_prints_the_job_and_refuses_a_final_one(
    stub: tuple[str, list[str | None]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEXPIPE_API_URL", stub[0])
    monkeypatch.setenv("TEXPIPE_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(main, ["cancel", JOB]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["cancel", JOB]) == 2
    assert "already cancelled" in capsys.readouterr().err
