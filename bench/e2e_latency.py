"""End-to-end latency against raw latexmk, side by side (issue 6's benchmark).

For ``hello`` and ``article`` of the corpus, each round runs raw ``latexmk`` on a fresh copy
of the project, then the same document through texpipe: a new revision (so no cache can
answer), ``POST /v1/documents/{id}/compile``, and the long-poll until the job is final; then an
unchanged resubmit of that revision. Run against the stack of ``make up`` (``make bench``), or
any other: ``TEXPIPE_API_URL`` and ``TEXPIPE_TOKEN`` in the environment win over ``.texpipe/env``.

    .venv/bin/python bench/e2e_latency.py [--runs 20] [--corpus ../shared/corpus]
"""

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from benchkit import (
    api_session,
    latexmk_fresh_copy,
    project_files,
    stack_from_env,
    summary,
    until_final,
    write_results,
)
from texpipe_contracts.jobs import JobState


def raw_latexmk(project: Path) -> float:
    """Seconds for latexmk on a fresh copy of ``project``."""
    return latexmk_fresh_copy(project).wall_s


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
    files = project_files(project)
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
    async with api_session(stack_from_env()) as http:
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
    print(f"wrote {write_results('e2e_latency', results)}")


if __name__ == "__main__":
    main()
