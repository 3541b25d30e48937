"""End-to-end latency against raw latexmk, side by side (issue 6's benchmark).

For ``hello`` and ``article`` of the corpus, each round runs raw ``latexmk`` on a fresh copy
of the project, then the same document through texpipe: a new revision (so no cache can
answer), ``POST /v1/documents/{id}/compile``, and the long-poll until the job is final; then an
unchanged resubmit of that revision. Run against the stack of ``make up`` (``make bench``).

    .venv/bin/python bench/e2e_latency.py [--runs 20] [--corpus ../shared/corpus]
"""

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from texpipe_contracts.jobs import FINAL_STATES, JobState

LATEXMK = ["latexmk", "-norc", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def raw_latexmk(project: Path) -> float:
    """Seconds for latexmk on a fresh copy of ``project``."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "p"
        shutil.copytree(project, work)
        started = time.perf_counter()
        subprocess.run(LATEXMK, cwd=work, check=True, capture_output=True, stdin=subprocess.DEVNULL)
        return time.perf_counter() - started


async def until_final(http: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    """Long-poll until the job is final."""
    while True:
        async with http.get(f"/v1/jobs/{job_id}", params={"wait": "60"}) as response:
            job: dict[str, Any] = await response.json()
        if job["state"] in FINAL_STATES:
            return job


async def compile_and_wait(http: aiohttp.ClientSession, document_id: str) -> tuple[float, str]:
    """Seconds from POST .../compile to the job being final, and the final state."""
    started = time.perf_counter()
    async with http.post(f"/v1/documents/{document_id}/compile") as response:
        accepted = await response.json()
        assert response.status == 202, accepted
    job = await until_final(http, accepted["job_id"])
    return time.perf_counter() - started, job["state"]


def files_of(project: Path, round_no: int) -> dict[str, str]:
    """The project's files, main.tex made unique for this round so that nothing is cached."""
    files = {
        p.relative_to(project).as_posix(): p.read_text()
        for p in sorted(project.rglob("*"))
        if p.is_file()
    }
    files["main.tex"] += f"\n% bench round {round_no} {time.time_ns()}\n"
    return files


async def bench_document(http: aiohttp.ClientSession, project: Path, runs: int) -> dict[str, Any]:
    """Interleaved rounds of raw latexmk, texpipe compile, texpipe unchanged resubmit."""
    async with http.post("/v1/documents", json={"files": files_of(project, -1)}) as response:
        doc = await response.json()
    revision = doc["revision"]
    raw, e2e, resubmit = [], [], []
    for round_no in range(runs + 1):  # round 0 warms caches and is not counted
        raw_s = await asyncio.to_thread(raw_latexmk, project)
        async with http.put(
            f"/v1/documents/{doc['id']}",
            json={"files": files_of(project, round_no)},
            headers={"If-Match": str(revision)},
        ) as response:
            revision = (await response.json())["revision"]
        e2e_s, state = await compile_and_wait(http, doc["id"])
        assert state == JobState.APPLIED, state
        again_s, _ = await compile_and_wait(http, doc["id"])
        if round_no:
            raw.append(raw_s)
            e2e.append(e2e_s)
            resubmit.append(again_s)

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "p50_ms": statistics.median(values) * 1000,
            "p99_ms": percentile(values, 0.99) * 1000,
        }

    overhead = [t - r for t, r in zip(e2e, raw, strict=True)]
    return {
        "runs": runs,
        "raw_latexmk": summary(raw),
        "texpipe": summary(e2e),
        "overhead_p50_ms": (statistics.median(e2e) - statistics.median(raw)) * 1000,
        "overhead_paired_p50_ms": statistics.median(overhead) * 1000,
        "unchanged_resubmit": summary(resubmit),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run every document's benchmark against the running stack."""
    env = dict(
        line.split("=", 1) for line in Path(".texpipe/env").read_text().splitlines() if "=" in line
    )
    headers = {"Authorization": f"Bearer {env['TEXPIPE_TOKEN']}"}
    async with aiohttp.ClientSession(env["TEXPIPE_API_URL"], headers=headers) as http:
        return {
            name: await bench_document(http, args.corpus / name, args.runs)
            for name in ("hello", "article")
        }


def main() -> None:
    """Print a table and write JSON under bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    targets = {"hello": 20.0, "article": 50.0}
    print(
        f"{'document':10} {'latexmk p50':>12} {'p99':>8} {'texpipe p50':>12} {'p99':>8}"
        f" {'overhead p50':>13} {'target':>7} {'resubmit p50':>13} {'p99':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:10} {r['raw_latexmk']['p50_ms']:12.1f} {r['raw_latexmk']['p99_ms']:8.1f}"
            f" {r['texpipe']['p50_ms']:12.1f} {r['texpipe']['p99_ms']:8.1f}"
            f" {r['overhead_p50_ms']:13.1f} {targets[name]:7.0f}"
            f" {r['unchanged_resubmit']['p50_ms']:13.1f} {r['unchanged_resubmit']['p99_ms']:8.1f}"
        )
    print("(milliseconds; resubmit target 15 ms at p50)")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "e2e_latency.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'e2e_latency.json'}")


if __name__ == "__main__":
    main()
