"""The texpipe CLI end to end against a stand-in api over real HTTP.

The stand-in keeps documents and jobs in memory and behaves like the api where the CLI looks:
bearer auth, problem+json errors, If-Match, the long-poll, the log, the PDF redirect and
download. A job becomes final ``READY_S`` after it was queued; its outcome is chosen by a marker
in the main file (``% stub:failed``, ``% stub:stale``, ...), ``applied`` by default.
"""

import asyncio
import base64
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from texpipe_cli.cli import main

TOKEN = "tenant-token"
READY_S = 0.2
_MARKER = re.compile(r"% stub:(\w+)")


@dataclass
class StubApi:
    """The stub's state, and what the CLI sent it."""

    url: str = ""
    documents: dict[str, dict[str, object]] = field(default_factory=dict)
    jobs: dict[str, dict[str, object]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    fail_next_job_gets: int = 0


def _problem(status: int, code: str, title: str, **extra: object) -> web.Response:
    body = {"type": "about:blank", "status": status, "code": code, "title": title}
    body["detail"] = str(extra.pop("detail", title))
    body.update(extra)
    return web.json_response(body, status=status, content_type="application/problem+json")


def _new_job(stub: StubApi, document_id: str) -> str:
    doc = stub.documents[document_id]
    files = doc["files"]
    assert isinstance(files, dict)
    main = files[doc["main"]]
    marker = _MARKER.search(main if isinstance(main, str) else "")
    job_id = str(uuid.uuid4())
    stub.jobs[job_id] = {
        "id": job_id,
        "document_id": document_id,
        "revision": doc["revision"],
        "state": "queued",
        "engine": doc["engine"],
        "created_at": "2025-01-01T00:00:00Z",
        "error": None,
        "log_available": False,
        "_outcome": marker.group(1) if marker else "applied",
        "_ready": asyncio.get_running_loop().time() + READY_S,
    }
    return job_id


def _finish(job: dict[str, object]) -> None:
    outcome = job["_outcome"]
    job["state"] = outcome
    job["duration_ms"] = 123
    job["log_available"] = True
    badbox = "Overfull \\hbox (1.0pt too wide) detected at line 2"
    items = [{"severity": "badbox", "file": "main.tex", "line": 2, "message": badbox}]
    job["diagnostics"] = {"items": items, "omitted": 0}
    if outcome in ("failed", "timed_out", "rejected"):
        error = {"severity": "error", "file": "main.tex", "line": 3, "message": "Undefined"}
        job["diagnostics"] = {"items": [*items, error], "omitted": 4}
        job["error"] = {
            "code": "LATEX_ERROR",
            "message": "Undefined control sequence.",
            "file": "main.tex",
            "line": 3,
            "excerpt": "l.3 \\nosuchmacro",
        }
    if outcome == "dead":
        job["dead_reason"] = "delivery_limit"


def _public(job: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def build_app(stub: StubApi) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler: object) -> web.StreamResponse:
        stub.requests.append((request.method, request.path_qs, dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _problem(401, "UNAUTHORIZED", "Missing or invalid bearer token")
        return await handler(request)  # type: ignore[operator,no-any-return]

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        stub.bodies.append(body)
        doc_id = str(uuid.uuid4())
        stub.documents[doc_id] = {
            "revision": 1,
            "files": body["files"],
            "main": body.get("main", "main.tex"),
            "engine": body.get("engine") or "pdflatex",
        }
        job_id = _new_job(stub, doc_id) if body.get("compile") else None
        answer = {"id": doc_id, "revision": 1, "engine": "pdflatex", "job_id": job_id}
        return web.json_response(answer, status=201)

    async def update(request: web.Request) -> web.Response:
        doc = stub.documents.get(request.match_info["id"])
        if doc is None:
            return _problem(404, "NOT_FOUND", "Not found")
        if_match = request.headers.get("If-Match")
        if if_match is not None and int(if_match.strip('"')) != doc["revision"]:
            return _problem(
                412, "REVISION_MISMATCH", "Revision mismatch", current_revision=doc["revision"]
            )
        body = await request.json()
        stub.bodies.append(body)
        doc["revision"] = int(str(doc["revision"])) + 1
        doc["files"] = body["files"]
        job_id = _new_job(stub, request.match_info["id"]) if body.get("compile") else None
        return web.json_response(
            {"id": request.match_info["id"], "revision": doc["revision"], "job_id": job_id}
        )

    async def get_job(request: web.Request) -> web.Response:
        if stub.fail_next_job_gets > 0:
            stub.fail_next_job_gets -= 1
            return _problem(503, "DEPENDENCY_UNAVAILABLE", "A dependency is unavailable")
        job = stub.jobs.get(request.match_info["id"])
        if job is None:
            return _problem(404, "NOT_FOUND", "Not found")
        loop = asyncio.get_running_loop()
        wait = float(request.query.get("wait", "0"))
        ready = float(str(job["_ready"]))
        if job["state"] == "queued" and wait > 0 and loop.time() < ready:
            await asyncio.sleep(min(wait, ready - loop.time()))
        if job["state"] == "queued" and loop.time() >= ready:
            _finish(job)
        return web.json_response(_public(job))

    async def get_log(request: web.Request) -> web.Response:
        job = stub.jobs.get(request.match_info["id"])
        if job is None or not job["log_available"]:
            return _problem(404, "NO_LOG", "The job has no log")
        return web.Response(text="This is pdfTeX\n\x1b[31m! Undefined control sequence.\n")

    async def get_pdf(request: web.Request) -> web.Response:
        doc = stub.documents.get(request.match_info["id"])
        if doc is None:
            return _problem(404, "NOT_FOUND", "Not found")
        if request.query.get("download") == "1":
            body = f"%PDF-1.5 stub revision {doc['revision']}".encode()
            return web.Response(body=body, content_type="application/pdf")
        raise web.HTTPFound(f"http://s3.invalid/bucket/outputs/{request.match_info['id']}.pdf")

    app = web.Application(middlewares=[auth])
    app.router.add_post("/v1/documents", create)
    app.router.add_put("/v1/documents/{id}", update)
    app.router.add_get("/v1/documents/{id}/pdf", get_pdf)
    app.router.add_get("/v1/jobs/{id}", get_job)
    app.router.add_get("/v1/jobs/{id}/log", get_log)
    return app


@pytest_asyncio.fixture
async def stub_api() -> AsyncIterator[StubApi]:
    """The stand-in api, listening on a free port of 127.0.0.1."""
    stub = StubApi()
    runner = web.AppRunner(build_app(stub))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    stub.url = f"http://{host}:{port}"
    yield stub
    await runner.cleanup()


DOC = "\\documentclass{article}\n\\begin{document}\nHello\n\\end{document}\n"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, stub_api: StubApi, tmp_path: Path) -> Path:
    """The stub's URL and token in the environment; cwd away from any real .texpipe/env."""
    monkeypatch.setenv("TEXPIPE_API_URL", stub_api.url)
    monkeypatch.setenv("TEXPIPE_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``texpipe argv`` (its own event loop, in a thread) -> (exit code, stdout, stderr)."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _project(root: Path, main: str = DOC) -> Path:
    paper = root / "paper"
    (paper / "figures").mkdir(parents=True)
    (paper / "main.tex").write_text(main)
    (paper / "figures" / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    (paper / ".notes.swp").write_text("hidden")
    return paper


async def test_create_compile_wait_writes_the_pdf_then_a_second_run_puts_a_revision(
    env: Path, stub_api: StubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = _project(env)
    code, out, err = await cli(capsys, "compile", str(paper), "--wait")
    assert code == 0, err
    pdf = env / "paper.pdf"
    assert pdf.read_bytes() == b"%PDF-1.5 stub revision 1"
    assert f"wrote {pdf}" in out
    assert "created document" in err
    assert "applied" in err
    assert "badbox main.tex:2: Overfull \\hbox (1.0pt too wide) detected at line 2" in err

    sent = stub_api.bodies[0]
    assert "main" not in sent, "the api finds the main file"
    assert sent["compile"] is True
    assert "engine" not in sent
    assert sent["files"] == {
        "figures/plot.png": {"base64": base64.b64encode(b"\x89PNG\r\n\x1a\n\x00").decode()},
        "main.tex": DOC,
    }
    state = json.loads((paper / ".texpipe" / "document.json").read_text())
    assert state["api_url"] == stub_api.url
    assert state["revision"] == 1
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for _, _, h in stub_api.requests)
    # the wait is a long-poll, not a busy loop
    job_gets = [p for m, p, _ in stub_api.requests if m == "GET" and p.startswith("/v1/jobs/")]
    assert len(job_gets) <= 2
    assert all("wait=" in p for p in job_gets)

    (paper / "main.tex").write_text(DOC.replace("Hello", "Hello again"))
    out_pdf = env / "elsewhere" / "out.pdf"
    code, out, err = await cli(
        capsys, "compile", str(paper), "-o", str(out_pdf), "--engine", "xelatex"
    )
    assert code == 0, err
    _method, path, headers = next(r for r in stub_api.requests if r[0] == "PUT")
    assert (path, headers["If-Match"]) == (f"/v1/documents/{state['document_id']}", '"1"')
    assert stub_api.bodies[1]["engine"] == "xelatex"
    assert out_pdf.read_bytes() == b"%PDF-1.5 stub revision 2"
    assert len(stub_api.documents) == 1
    assert json.loads((paper / ".texpipe" / "document.json").read_text())["revision"] == 2


async def test_a_latex_failure_prints_file_line_and_message_and_exits_1(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tex = env / "broken.tex"
    tex.write_text(DOC.replace("Hello", "\\nosuchmacro % stub:failed"))
    code, _out, err = await cli(capsys, "compile", str(tex), "--wait")
    assert code == 1
    assert "main.tex:3: Undefined control sequence. [LATEX_ERROR]" in err
    assert "| l.3 \\nosuchmacro" in err
    assert "texpipe log" in err
    listed = err[err.index("badbox main.tex:2:") :].splitlines()
    assert listed[1:] == ["error main.tex:3: Undefined", listed[2]]
    assert listed[2].startswith("... and 4 more in the log (texpipe log ")
    assert not (env / "broken.pdf").exists()
    assert (env / ".texpipe" / "broken.tex.json").is_file()


@pytest.mark.parametrize(
    ("outcome", "code"),
    [("timed_out", 1), ("rejected", 1), ("stale", 4), ("superseded", 4), ("dead", 3)],
)
async def test_each_final_state_has_its_exit_code(
    env: Path, capsys: pytest.CaptureFixture[str], outcome: str, code: int
) -> None:
    tex = env / "doc.tex"
    tex.write_text(DOC + f"% stub:{outcome}\n")
    assert (await cli(capsys, "compile", str(tex), "--wait"))[0] == code


async def test_api_down_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TEXPIPE_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TEXPIPE_TOKEN", TOKEN)
    (tmp_path / "a.tex").write_text(DOC)
    code, _, err = await cli(capsys, "compile", str(tmp_path / "a.tex"), "--wait")
    assert code == 3
    assert f"cannot reach the api at http://127.0.0.1:{port}" in err


async def test_a_5xx_while_waiting_is_retried(
    env: Path, stub_api: StubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    stub_api.fail_next_job_gets = 1
    (env / "a.tex").write_text(DOC)
    code, _, err = await cli(capsys, "compile", str(env / "a.tex"), "--wait")
    assert code == 0, err
    assert "DEPENDENCY_UNAVAILABLE, HTTP 503); retrying" in err


async def test_a_document_changed_elsewhere_needs_force(
    env: Path, stub_api: StubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = _project(env)
    assert (await cli(capsys, "compile", str(paper)))[0] == 0
    doc = next(iter(stub_api.documents.values()))
    doc["revision"] = 5  # someone else sent revisions meanwhile
    code, _, err = await cli(capsys, "compile", str(paper))
    assert code == 2
    assert "is at revision 5" in err
    assert "--force" in err
    code, _, err = await cli(capsys, "compile", str(paper), "--force")
    assert code == 0, err
    assert "If-Match" not in [r for r in stub_api.requests if r[0] == "PUT"][-1][2]


async def test_a_forgotten_document_is_created_again(
    env: Path, stub_api: StubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = _project(env)
    assert (await cli(capsys, "compile", str(paper)))[0] == 0
    stub_api.documents.clear()  # e.g. a fresh stack
    code, _, err = await cli(capsys, "compile", str(paper))
    assert code == 0
    assert "creating a new one" in err
    assert len(stub_api.documents) == 1


async def test_status_log_and_open_by_id_and_by_path(
    env: Path, stub_api: StubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = _project(env)
    code, job_id, _ = await cli(capsys, "compile", str(paper))  # no --wait: prints the job id
    job_id = job_id.strip()
    assert code == 0
    assert job_id in stub_api.jobs

    code, out, _ = await cli(capsys, "status", job_id)
    assert code == 0
    assert f"job {job_id} (revision 1): queued" in out
    code, out, _err = await cli(capsys, "status", str(paper), "--wait")
    assert code == 0
    assert "applied" in out

    code, out, _ = await cli(capsys, "log", str(paper))
    assert code == 0
    assert "This is pdfTeX" in out
    assert "\x1b" not in out or not sys.stdout.isatty()  # raw only into a pipe

    doc_id = next(iter(stub_api.documents))
    for target in (doc_id, str(paper)):
        code, out, _ = await cli(capsys, "open", target)
        assert (code, out) == (0, f"http://s3.invalid/bucket/outputs/{doc_id}.pdf\n")


async def test_refusals_are_usage_errors(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await cli(capsys, "status", "2f0e2a56-62a4-4f4e-bb2c-6bd6ef5b8d0a")
    assert code == 2
    assert "NOT_FOUND, HTTP 404" in err
    code, _, err = await cli(capsys, "status", "not-a-job")
    assert code == 2
    assert "neither an id nor a file" in err
    monkeypatch.setenv("TEXPIPE_TOKEN", "wrong")
    code, _, err = await cli(capsys, "open", "2f0e2a56-62a4-4f4e-bb2c-6bd6ef5b8d0a")
    assert code == 2
    assert "UNAUTHORIZED" in err
    monkeypatch.delenv("TEXPIPE_TOKEN")
    code, _, err = await cli(capsys, "log", "2f0e2a56-62a4-4f4e-bb2c-6bd6ef5b8d0a")
    assert code == 2
    assert "no api token" in err


async def test_the_console_script_reads_dot_texpipe_env(stub_api: StubApi, tmp_path: Path) -> None:
    """One run as a real process: the installed script, the env file two folders up."""
    (tmp_path / ".texpipe").mkdir()
    (tmp_path / ".texpipe" / "env").write_text(
        f"TEXPIPE_API_URL={stub_api.url}\nTEXPIPE_TOKEN={TOKEN}\n"
    )
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    (work / "note.tex").write_text(DOC)
    script = Path(sys.executable).parent / "texpipe"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TEXPIPE_")}
    proc = await asyncio.create_subprocess_exec(
        str(script),
        "compile",
        "note.tex",
        "--wait",
        cwd=work,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert (work / "note.pdf").read_bytes() == b"%PDF-1.5 stub revision 1"
    assert b"queued" in err
    assert b"applied" in err
