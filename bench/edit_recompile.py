"""Edit-recompile latency against latexmk, and what a burst of edits costs (issue 13).

For each document (``hello`` and ``article`` of the corpus, ``figures`` and ``biblatex`` of
``bench/documents``), one sentence of the body is changed again and again (``edit N`` is
written into it); each edit is made three ways, interleaved, in an order that rotates from
edit to edit:

- texpipe: ``PUT /v1/documents/{id}`` with the edited files and ``"compile": true`` (one new
  revision and its job), then the long-poll until the job is final; the clock runs from the
  request to the final state, which must be ``applied``;
- fresh: ``latexmk -pdf`` on the edited files in a new folder (every pass from scratch);
- warm: the edited ``main.tex`` written into one folder kept since the document's first
  compile, and ``latexmk -pdf`` run there again (as Overleaf keeps each project's folder).

The first edit warms caches and is not counted. Then the burst: ``--burst`` edits of the
article, ``--burst-gap-ms`` apart, each a ``PUT`` followed by ``POST .../compile``; it counts
the compiles the compilers started and the CPU seconds of their sandboxes (from their
``/metrics``) and says which revision ended applied.

Run against the stack of ``make up`` (``make bench-edit``), or any other: ``--api-url``,
``--token``, ``--compiler-metrics`` (else ``TEXPIPE_API_URL``, ``TEXPIPE_TOKEN``,
``TEXPIPE_COMPILER_METRICS_URL``, else ``.texpipe/env``). Nothing else may use the stack's
compilers meanwhile: their counters are read before and after.

    .venv/bin/python bench/edit_recompile.py [--edits 20] [--quick] [--corpus ../shared/corpus]

Prints a table and writes bench/results/edit_recompile.json.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from benchkit import (
    Stack,
    api_session,
    compiler_counters,
    latexmk,
    latexmk_fresh,
    project_files,
    stack_from_env,
    summary,
    table,
    until_final,
    write_files,
    write_results,
)
from texpipe_contracts.jobs import JobState

HERE = Path(__file__).resolve().parent
METHODS = ("texpipe", "fresh", "warm")
STARTED = "texpipe_compiles_started_total"
SANDBOX_CPU = "texpipe_sandbox_cpu_seconds_total"
COMPILER_CPU = "process_cpu_seconds_total"
IN_FLIGHT = "texpipe_compiles_in_flight"
COUNTERS = (STARTED, SANDBOX_CPU, COMPILER_CPU, IN_FLIGHT)
TARGETS = {"fresh": 0.5, "warm": 0.8}
"""Issue 13's targets for the article: texpipe's p50 at most this times the method's p50."""
BURST_TARGET = 2
"""Issue 13: a burst of 10 edits 100 ms apart starts at most 2 compiles."""


@dataclass(frozen=True)
class Document:
    """A benchmark document: its folder and the sentence each edit changes."""

    name: str
    folder: Path
    sentence: str

    def files(self, edit: int) -> dict[str, str]:
        """The project's files with edit number ``edit`` written into the sentence."""
        files = project_files(self.folder)
        main = files["main.tex"]
        if self.sentence not in main:
            raise SystemExit(f"{self.folder}/main.tex no longer holds: {self.sentence}")
        changed = f"{self.sentence[:-1]}, edit {edit}{self.sentence[-1]}"
        files["main.tex"] = main.replace(self.sentence, changed, 1)
        return files


def documents(corpus: Path) -> dict[str, Document]:
    """The four documents, by name."""
    return {
        d.name: d
        for d in (
            Document("hello", corpus / "hello", "Hello, world!"),
            Document(
                "article",
                corpus / "article",
                "The pipeline compiles each revision of a document and applies the result only"
                " when the document has not moved on.",
            ),
            Document(
                "figures",
                HERE / "documents" / "figures",
                "This document measures how long an edit takes to reach the reader.",
            ),
            Document(
                "biblatex",
                HERE / "documents" / "biblatex",
                "This paper measures how long an edit takes to reach the reader.",
            ),
        )
    }


def require_applied(job: Mapping[str, Any], what: str) -> None:
    """Stop the benchmark when ``job`` did not end ``applied`` (its timings would mislead)."""
    if job["state"] != JobState.APPLIED:
        error = job.get("error") or {}
        hint = (
            " (a loaded machine? see LATEX_COMPILE_TIMEOUT_MS)"
            if error.get("code") == "TIMEOUT"
            else ""
        )
        raise SystemExit(
            f"{what}: job {job['id']} ended {job['state']}"
            f" ({error.get('code')}: {error.get('message')}){hint}"
        )


class Texpipe:
    """One document in texpipe, edited through the api."""

    def __init__(self, http: aiohttp.ClientSession, stack: Stack) -> None:
        self.http, self.stack = http, stack
        self.id, self.revision = "", 0

    async def counters(self) -> dict[str, float]:
        """The compilers' counters (empty without metrics URLs)."""
        if not self.stack.compiler_metrics:
            return {}
        return await compiler_counters(self.http, self.stack.compiler_metrics, COUNTERS)

    async def create(self, files: Mapping[str, str]) -> None:
        """Create the document with a compile; wait until it is applied."""
        body = {"files": files, "compile": True}
        async with self.http.post("/v1/documents", json=body) as response:
            created = await response.json()
            assert response.status == 201, created
        self.id, self.revision = created["id"], created["revision"]
        require_applied(await until_final(self.http, created["job_id"]), "first compile")

    async def edit(self, files: Mapping[str, str]) -> tuple[float, float | None, dict[str, Any]]:
        """A new revision with ``"compile": true``: seconds until its job is final, the
        sandbox CPU seconds it cost (None without metrics), and the job."""
        before = await self.counters()
        started = time.perf_counter()
        async with self.http.put(
            f"/v1/documents/{self.id}",
            json={"files": files, "compile": True},
            headers={"If-Match": str(self.revision)},
        ) as response:
            updated = await response.json()
            assert response.status == 200, updated
        job = await until_final(self.http, updated["job_id"])
        seconds = time.perf_counter() - started
        require_applied(job, f"revision {updated['revision']}")
        self.revision = updated["revision"]
        after = await self.counters()
        cpu = after[SANDBOX_CPU] - before[SANDBOX_CPU] if before else None
        return seconds, cpu, job


async def bench_document(
    http: aiohttp.ClientSession, stack: Stack, doc: Document, edits: int
) -> dict[str, Any]:
    """``edits`` counted edits (plus one to warm up), the three methods interleaved."""
    texpipe = Texpipe(http, stack)
    await texpipe.create(doc.files(0))
    wall: dict[str, list[float]] = {m: [] for m in METHODS}
    cpu: dict[str, list[float]] = {m: [] for m in METHODS}
    compile_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp)
        write_files(warm, doc.files(0))
        await asyncio.to_thread(latexmk, warm)
        for edit in range(1, edits + 2):
            files = doc.files(edit)
            for method in METHODS[edit % 3 :] + METHODS[: edit % 3]:
                if method == "texpipe":
                    seconds, used, job = await texpipe.edit(files)
                    if used is not None and edit > 1:
                        cpu[method].append(used)
                    if edit > 1:
                        compile_ms.append(job["duration_ms"])
                else:
                    if method == "fresh":
                        run = await asyncio.to_thread(latexmk_fresh, files)
                    else:
                        write_files(warm, {"main.tex": files["main.tex"]})
                        run = await asyncio.to_thread(latexmk, warm)
                    seconds = run.wall_s
                    if edit > 1:
                        cpu[method].append(run.cpu_s)
                if edit > 1:
                    wall[method].append(seconds)
    result: dict[str, Any] = {"edits": edits}
    for method in METHODS:
        result[method] = summary(wall[method])
        result[method]["cpu_s_p50"] = statistics.median(cpu[method]) if cpu[method] else None
    result["texpipe"]["compile_ms_p50"] = statistics.median(compile_ms)
    for other in ("fresh", "warm"):
        for q in ("p50", "p99"):
            ratio = result["texpipe"][f"{q}_ms"] / result[other][f"{q}_ms"]
            result[f"texpipe_over_{other}_{q}"] = ratio
    return result


async def settled(texpipe: Texpipe) -> dict[str, float]:
    """The compilers' counters once no compile is in flight and neither the compiles started
    nor the sandboxes' CPU moved for 1 s (a message still on its way could start one)."""

    def still(c: Mapping[str, float]) -> tuple[float, ...]:
        return c[IN_FLIGHT], c.get(STARTED, 0), c.get(SANDBOX_CPU, 0)

    last = await texpipe.counters()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = await texpipe.counters()
        if now[IN_FLIGHT] == 0 and still(now) == still(last):
            return now
        last = now
    raise SystemExit("the compilers did not settle within 120 s: is something else compiling?")


async def burst(
    http: aiohttp.ClientSession, stack: Stack, doc: Document, count: int, gap_s: float
) -> dict[str, Any]:
    """``count`` edits ``gap_s`` apart, each a PUT then POST .../compile; what they cost."""
    if not stack.compiler_metrics:
        raise SystemExit(
            "the burst reads the compilers' /metrics: set TEXPIPE_COMPILER_METRICS_URL or"
            " pass --compiler-metrics (or --burst 0)"
        )
    texpipe = Texpipe(http, stack)
    await texpipe.create(doc.files(0))
    before = await settled(texpipe)
    if SANDBOX_CPU not in before:
        raise SystemExit(f"the compiler does not export {SANDBOX_CPU}: it predates this bench")
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(n: int) -> tuple[int, str]:
        await asyncio.sleep(max(0.0, start + n * gap_s - loop.time()))
        async with http.put(f"/v1/documents/{texpipe.id}", json={"files": doc.files(n + 1)}) as r:
            revision = (await r.json())["revision"]
        async with http.post(f"/v1/documents/{texpipe.id}/compile") as r:
            accepted = await r.json()
            assert r.status == 202, accepted
        return revision, accepted["job_id"]

    sent = await asyncio.gather(*(one(n) for n in range(count)))
    jobs = {job_id: await until_final(http, job_id) for _, job_id in sent}
    final_s = loop.time() - start
    after = await settled(texpipe)
    async with http.get(f"/v1/documents/{texpipe.id}") as response:
        document = await response.json()
    applied = (document.get("pdf") or {}).get("revision")
    return {
        "edits": count,
        "gap_ms": gap_s * 1000,
        "jobs": len(jobs),
        "states": dict(Counter(job["state"] for job in jobs.values())),
        "compiles_started": round(after.get(STARTED, 0) - before.get(STARTED, 0)),
        "sandbox_cpu_s": after[SANDBOX_CPU] - before[SANDBOX_CPU],
        "compiler_cpu_s": after[COMPILER_CPU] - before[COMPILER_CPU],
        "newest_revision": document["revision"],
        "applied_revision": applied,
        "first_request_to_last_final_s": final_s,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Every document's edits, then the burst."""
    stack = stack_from_env(args.api_url, args.token, args.compiler_metrics or ())
    docs = documents(args.corpus)
    results: dict[str, Any] = {"documents": {}}
    async with api_session(stack) as http:
        for name in args.documents:
            print(f"{name}: {args.edits} edits ...", flush=True)
            results["documents"][name] = await bench_document(http, stack, docs[name], args.edits)
        if args.burst:
            print(f"burst: {args.burst} edits of {args.burst_document} ...", flush=True)
            gap_s = args.burst_gap_ms / 1000
            results["burst"] = await burst(
                http, stack, docs[args.burst_document], args.burst, gap_s
            )
    return results


def report(results: Mapping[str, Any]) -> str:
    """The tables and the verdicts on issue 13's targets."""
    rows = []
    for name, r in results["documents"].items():
        for method in METHODS:
            m = r[method]
            cpu = "-" if m["cpu_s_p50"] is None else f"{m['cpu_s_p50']:.2f}"
            ratios = (
                [f"{r[f'texpipe_over_{o}_p50']:.2f}" for o in ("fresh", "warm")]
                if method == "texpipe"
                else ["", ""]
            )
            compile_ms = f"{m['compile_ms_p50']:.0f}" if method == "texpipe" else ""
            rows.append([name, method, m["p50_ms"], m["p99_ms"], cpu, compile_ms, *ratios])
    header = [
        "document",
        "method",
        "p50 ms",
        "p99 ms",
        "CPU s p50",
        "compile ms",
        "/fresh",
        "/warm",
    ]
    lines = [
        table(header, rows, left=2),
        "(wall time per edit: request to final job, or latexmk start to end; CPU per edit:"
        " the sandbox's for texpipe, latexmk's and its tools' otherwise; compile ms: the"
        " compiler's own time of the job, p50; /fresh, /warm: texpipe's p50 over theirs)",
    ]
    article = results["documents"].get("article")
    if article:
        for other, target in TARGETS.items():
            ratio = article[f"texpipe_over_{other}_p50"]
            verdict = "met" if ratio <= target else "NOT met"
            lines.append(
                f"article: texpipe p50 / {other} p50 = {ratio:.2f} (target <= {target}): {verdict}"
            )
    b = results.get("burst")
    if b:
        states = ", ".join(f"{k} {v}" for k, v in sorted(b["states"].items()))
        newest = "the newest" if b["applied_revision"] == b["newest_revision"] else "NOT the newest"
        verdict = "met" if b["compiles_started"] <= BURST_TARGET else "NOT met"
        lines += [
            f"burst: {b['edits']} edits {b['gap_ms']:.0f} ms apart -> {b['jobs']} jobs ({states}),"
            f" all final after {b['first_request_to_last_final_s']:.1f} s",
            f"  compiles started {b['compiles_started']} (target <= {BURST_TARGET}: {verdict});"
            f" sandbox CPU {b['sandbox_cpu_s']:.2f} s, compiler CPU {b['compiler_cpu_s']:.2f} s",
            f"  applied revision {b['applied_revision']} of {b['newest_revision']} ({newest})",
        ]
    return "\n".join(lines)


def main() -> None:
    """Parse options, run, print the report, write JSON under bench/results/."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--edits", type=int, default=20, help="counted edits per document")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 edits each")
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument(
        "--documents",
        nargs="+",
        default=["hello", "article", "figures", "biblatex"],
        choices=["hello", "article", "figures", "biblatex"],
    )
    parser.add_argument("--burst", type=int, default=10, help="edits in the burst (0: none)")
    parser.add_argument("--burst-gap-ms", type=float, default=100.0)
    parser.add_argument(
        "--burst-document", default="article", choices=["hello", "article", "figures", "biblatex"]
    )
    parser.add_argument("--api-url", help="default: TEXPIPE_API_URL, else .texpipe/env")
    parser.add_argument("--token", help="a tenant token; default: TEXPIPE_TOKEN, else .texpipe/env")
    parser.add_argument(
        "--compiler-metrics",
        action="append",
        metavar="URL",
        help="a compiler's /metrics (repeat for several); default: TEXPIPE_COMPILER_METRICS_URL"
        " (comma-separated), else .texpipe/env",
    )
    args = parser.parse_args()
    if args.quick:
        args.edits = 3
    results = asyncio.run(main_async(args))
    written = write_results("edit_recompile", results)
    print(report(results))
    print(f"wrote {written}")


if __name__ == "__main__":
    main()
