"""``make demo``: compile every document of the corpora through the HTTP API, print a table.

A document goes in as its author sends it: the manifest's ``main`` and ``engine`` when the
manifest names them (corpus-real), otherwise the files alone, and the api finds the main file
and the engine.

Runs against the stack that ``make up`` started (``run/stack.json``, ``.texpipe/env``),
saves the PDFs under ``./out/`` and ends with where to look and how to stop.
"""

import argparse
import asyncio
import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from texpipe_contracts.jobs import FINAL_STATES, JobState

from texpipe_testing.stack import StackState


@dataclass
class Row:
    """One line of the demo's table."""

    document: str
    engine: str
    outcome: str
    pages: str
    seconds: float
    detail: str


def read_project(folder: Path) -> dict[str, Any]:
    """Every regular file of a corpus project: text as text, anything else as base64."""
    files: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        relative = path.relative_to(folder).as_posix()
        try:
            files[relative] = data.decode("utf-8")
        except UnicodeDecodeError:
            files[relative] = {"base64": base64.b64encode(data).decode()}
    return files


async def compile_one(
    http: aiohttp.ClientSession, name: str, folder: Path, spec: dict[str, Any], out: Path
) -> Row:
    """Create the document with compile=true, long-poll the job, fetch the PDF."""
    started = time.monotonic()
    body: dict[str, Any] = {"files": read_project(folder), "compile": True}
    for field in ("main", "engine"):
        if spec.get(field) is not None:
            body[field] = spec[field]
    async with http.post("/v1/documents", json=body) as response:
        created = await response.json()
        if response.status != 201:
            return Row(name, "-", "refused", "-", 0.0, created.get("detail", str(created)))
    job: dict[str, Any] = {"state": JobState.QUEUED}
    while job["state"] not in FINAL_STATES:
        async with http.get(f"/v1/jobs/{created['job_id']}", params={"wait": "60"}) as response:
            job = await response.json()
    seconds = time.monotonic() - started
    pages, detail = "-", ""
    if job["state"] == JobState.APPLIED:
        async with http.get(f"/v1/documents/{created['id']}") as response:
            pages = str((await response.json())["pdf"]["pages"])
        async with http.get(
            f"/v1/documents/{created['id']}/pdf", params={"download": "1"}
        ) as response:
            (out / f"{name}.pdf").write_bytes(await response.read())
    elif job.get("error"):
        error = job["error"]
        where = f"{error['file']}:{error['line']}: " if error.get("file") else ""
        detail = f"{error['code']} {where}{error['message']}"
    return Row(name, job["engine"], job["state"], pages, seconds, detail)


def print_table(rows: list[Row]) -> None:
    """A plain table a person can read in a terminal."""
    header = ("document", "engine", "outcome", "pages", "seconds", "error")
    lines = [header] + [
        (r.document, r.engine, r.outcome, r.pages, f"{r.seconds:.2f}", r.detail[:90]) for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1])


async def run(
    state: StackState, documents: dict[str, tuple[Path, dict[str, Any]]], out: Path, token: str
) -> list[Row]:
    """Compile every document concurrently, as the platform's services would."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=90)
    async with aiohttp.ClientSession(state.api_url, headers=headers, timeout=timeout) as http:
        return list(
            await asyncio.gather(
                *(
                    compile_one(http, name, folder, spec, out)
                    for name, (folder, spec) in documents.items()
                )
            )
        )


def main() -> None:
    """``python -m texpipe_testing.demo CORPUS [CORPUS ...]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, nargs="+")
    parser.add_argument("--run-dir", type=Path, default=Path("run"))
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    env = dict(
        line.split("=", 1) for line in Path(".texpipe/env").read_text().splitlines() if "=" in line
    )
    state = StackState.load(args.run_dir.resolve())
    documents: dict[str, tuple[Path, dict[str, Any]]] = {}
    for corpus in args.corpus:
        listed = json.loads((corpus / "manifest.json").read_text())["documents"]
        for name, spec in listed.items():
            documents[f"{corpus.name}/{name}"] = (corpus / name, spec)
    for name in documents:
        (args.out / name).parent.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(run(state, documents, args.out, env["TEXPIPE_TOKEN"]))
    print()
    print_table(rows)
    print(f"\nPDFs are in {args.out.resolve()}/")
    print(f"API docs:              {state.api_url}/docs  (OpenAPI: {state.api_url}/openapi.json)")
    print("RabbitMQ management:   http://127.0.0.1:15672/  (guest / guest)")
    print(f"Logs:                  {args.run_dir.resolve()}/logs/")
    print("CLI:                   .venv/bin/texpipe compile PATH --wait  (reads .texpipe/env)")
    print("Stop everything:       make down")


if __name__ == "__main__":
    main()
