"""Compiler throughput against ``xargs -P2 latexmk``, and cache-hit latency (issue 4).

Starts its own SeaweedFS and a compiler process with 2 slots on a fresh broker namespace
(RabbitMQ from TEXPIPE_AMQP_URL or the local default), then, side by side:

- throughput: every corpus document but ``slow-loop``, each round with fresh sources (a
  token in a comment, so nothing is a cache hit), published at once; the clock runs from the
  first publish to the last ``compile.completed``. Against it, ``xargs -P2`` running latexmk
  (``-norc``, same engine as the manifest's) on fresh copies of the same files.
- cache-hit latency: one request at a time for a source compiled before; request publish to
  ``compile.completed`` received.

    .venv/bin/python bench/compiler_throughput.py [--rounds 3] [--hits 50]
    .venv/bin/python bench/compiler_throughput.py --documents hello --copies 20 --no-latexmk

``--documents`` keeps only the documents named, ``--copies N`` sends each N times per round
(fresh sources each time), ``--no-latexmk`` skips the comparison: the capacity figures of
docs/scaling.md (compiles per second of one document size). Message sizes are reported too.

Prints a table and writes bench/results/compiler_throughput-<time>.json.
"""

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
from benchkit import cpu_seconds
from faststream.rabbit import RabbitBroker
from pydantic import SecretStr
from texpipe_contracts import topology as topo
from texpipe_contracts.bundle import source_key
from texpipe_contracts.topology import Topology, build_topology
from texpipe_contracts.v1 import CompileCompleted, CompileRequested, Engine, SourceBundleRef
from texpipe_servicekit.rabbit import declare_topology
from texpipe_servicekit.s3 import S3Store, open_s3_store
from texpipe_servicekit.settings import S3Settings
from texpipe_testing.plugin import delete_topology
from texpipe_testing.processes import ServiceProcess
from texpipe_testing.seaweed import S3Server, seaweedfs
from texpipe_testing.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
LATEXMK_ENGINE = {"pdflatex": "-pdf", "xelatex": "-xelatex", "lualatex": "-lualatex"}
SLOTS = 2


def fresh_files(folder: Path) -> dict[str, bytes]:
    """The project's files with a unique comment in main.tex (defeats every cache)."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    files["main.tex"] += f"\n% bench {secrets.token_hex(8)}\n".encode()
    return files


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


class Client:
    """Publishes requests; resolves futures from the apply queue."""

    def __init__(self, url: str, topology: Topology, store: S3Store) -> None:
        self.url, self.topology, self.store = url, topology, store
        self.waiting: dict[str, asyncio.Future[tuple[float, CompileCompleted]]] = {}
        self.request_bytes: list[int] = []
        self.result_bytes: list[int] = []

    async def __aenter__(self) -> "Client":
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await self.channel.get_exchange(self.topology.exchange.name)
        queue = await self.channel.get_queue(self.topology.apply_queue.name)
        await queue.consume(self.on_result, no_ack=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.connection.close()

    async def on_result(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received = time.perf_counter()
        if message.routing_key == topo.COMPILE_STARTED_V1:
            return  # a progress notice shares the apply queue; only results are timed
        result = CompileCompleted.model_validate_json(message.body)
        self.result_bytes.append(len(message.body))
        future = self.waiting.get(str(result.job_id))
        if future is not None and not future.done():
            future.set_result((received, result))

    async def upload(self, files: dict[str, bytes]) -> SourceBundleRef:
        data = tar_of(files)
        digest = hashlib.sha256(data).hexdigest()
        await self.store.put(source_key(digest), data, content_type="application/x-tar")
        return SourceBundleRef(key=source_key(digest), sha256=digest, size=len(data))

    async def publish(
        self, source: SourceBundleRef, engine: Engine
    ) -> tuple[float, asyncio.Future[tuple[float, CompileCompleted]]]:
        request = CompileRequested(
            job_id=uuid.uuid4(), document_id=uuid.uuid4(), revision=1, source=source, engine=engine
        )
        future = asyncio.get_running_loop().create_future()
        self.waiting[str(request.job_id)] = future
        body = request.model_dump_json().encode()
        self.request_bytes.append(len(body))
        sent = time.perf_counter()
        await self.exchange.publish(
            aio_pika.Message(
                body,
                correlation_id=request.correlation_id,
                message_id=str(request.message_id),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=topo.COMPILE_REQUESTED_V1,
        )
        return sent, future


async def service_round(
    client: Client, docs: dict[str, dict[str, Any]], corpus: Path, copies: int = 1
) -> tuple[float, list[str]]:
    """Seconds for the whole corpus (each document ``copies`` times) through the service, and
    the outcomes."""
    sources = [
        (await client.upload(fresh_files(corpus / name)), Engine(spec["engine"]))
        for name, spec in docs.items()
        for _ in range(copies)
    ]
    started = time.perf_counter()
    pending = [await client.publish(source, engine) for source, engine in sources]
    results = [await asyncio.wait_for(future, 600) for _, future in pending]
    finished = max(received for received, _ in results)
    return finished - started, [r.outcome.value for _, r in results]


def latexmk_round(docs: dict[str, dict[str, Any]], corpus: Path) -> float:
    """Seconds for ``xargs -P2 latexmk`` over fresh copies of the corpus."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = []
        for name, spec in docs.items():
            work = Path(tmp) / name
            work.mkdir()
            for path, data in fresh_files(corpus / name).items():
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                (work / path).write_bytes(data)
            lines.append(f"{work} {LATEXMK_ENGINE[spec['engine']]}")
        script = (
            'cd "$0" && latexmk -norc "$1" -interaction=nonstopmode -halt-on-error'
            " -file-line-error main.tex </dev/null >/dev/null 2>&1; exit 0"
        )
        started = time.perf_counter()
        subprocess.run(
            ["xargs", "-P", str(SLOTS), "-n", "2", "sh", "-c", script],
            input="\n".join(lines).encode(),
            check=True,
        )
        return time.perf_counter() - started


async def cache_hits(client: Client, count: int, corpus: Path) -> list[float]:
    """Request-to-completed seconds of ``count`` sequential cache hits."""
    source = await client.upload({"main.tex": (corpus / "hello" / "main.tex").read_bytes()})
    _, first = await client.publish(source, Engine.PDFLATEX)
    await asyncio.wait_for(first, 120)
    latencies = []
    for _ in range(count):
        sent, future = await client.publish(source, Engine.PDFLATEX)
        received, result = await asyncio.wait_for(future, 60)
        assert result.cache_hit
        latencies.append(received - sent)
    return latencies


async def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus: Path = args.corpus
    docs = {
        name: spec
        for name, spec in json.loads((corpus / "manifest.json").read_text())["documents"].items()
        if name != "slow-loop" and (not args.documents or name in args.documents.split(","))
    }
    amqp_url = os.environ.get("TEXPIPE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    topology = build_topology("bench" + secrets.token_hex(4))
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.connect()
        await declare_topology(broker, topology)
    try:
        with seaweedfs(bucket="bench") as s3, tempfile.TemporaryDirectory() as logs:
            return await measure(args, docs, corpus, amqp_url, topology, s3, Path(logs))
    finally:
        await delete_topology(amqp_url, topology)


async def measure(
    args: argparse.Namespace,
    docs: dict[str, dict[str, Any]],
    corpus: Path,
    amqp_url: str,
    topology: Topology,
    s3: S3Server,
    logs: Path,
) -> dict[str, Any]:
    port = free_port()
    env = {
        "TEXPIPE_AMQP_URL": amqp_url,
        "TEXPIPE_NAMESPACE": topology.namespace,
        "TEXPIPE_S3_ENDPOINT_URL": s3.endpoint_url,
        "TEXPIPE_S3_BUCKET": s3.bucket,
        "TEXPIPE_S3_ACCESS_KEY": s3.access_key,
        "TEXPIPE_S3_SECRET_KEY": s3.secret_key,
        "TEXPIPE_OPS_PORT": str(port),
        "TEXPIPE_COMPILER_CONCURRENCY": str(SLOTS),
        "TEXPIPE_COMPILER_ENGINES": '["pdflatex", "xelatex", "lualatex"]',
        "TEXPIPE_LOG_LEVEL": "WARNING",
    }
    settings = S3Settings(
        s3_endpoint_url=s3.endpoint_url, s3_bucket=s3.bucket,
        s3_access_key=SecretStr(s3.access_key), s3_secret_key=SecretStr(s3.secret_key),
    )  # fmt: skip
    compiler = ServiceProcess(
        "texpipe_compiler", env=env, log_path=logs / "compiler.log",
        health_url=f"http://127.0.0.1:{port}/health",
    )  # fmt: skip
    with compiler, contextlib.ExitStack():
        async with open_s3_store(settings) as store, Client(amqp_url, topology, store) as client:
            # Warm both sides once (font caches, page cache), unmeasured.
            await service_round(client, docs, corpus)
            if not args.no_latexmk:
                latexmk_round(docs, corpus)
            service_s, latexmk_s, outcomes = [], [], []
            client.request_bytes.clear()
            client.result_bytes.clear()
            assert compiler.process is not None
            cpu_before = cpu_seconds(compiler.process.pid, reaped_children=True)
            for _ in range(args.rounds):
                seconds, outcome = await service_round(client, docs, corpus, args.copies)
                service_s.append(seconds)
                outcomes.append(outcome)
                if not args.no_latexmk:
                    latexmk_s.append(latexmk_round(docs, corpus))
            compiler_cpu_s = cpu_seconds(compiler.process.pid, reaped_children=True) - cpu_before
            sizes = {"request": sorted(client.request_bytes), "result": sorted(client.result_bytes)}
            hits = await cache_hits(client, args.hits, corpus) if args.hits else []
    compiles = len(docs) * args.copies
    service_median = statistics.median(service_s)
    latexmk_median = statistics.median(latexmk_s) if latexmk_s else float("nan")
    ordered = sorted(hits) or [float("nan")]
    return {
        "documents": sorted(docs),
        "copies": args.copies,
        "slots": SLOTS,
        "rounds": args.rounds,
        "service_seconds": service_s,
        "latexmk_xargs_p2_seconds": latexmk_s,
        "service_docs_per_s": compiles / service_median,
        "latexmk_docs_per_s": len(docs) / latexmk_median,
        "throughput_ratio": latexmk_median * args.copies / service_median,
        "outcomes": outcomes[0],
        "compiler_cpu_s_per_compile": compiler_cpu_s / (compiles * args.rounds),
        "message_bytes": {
            kind: {"median": statistics.median(v), "max": v[-1]} for kind, v in sizes.items() if v
        },
        "cache_hit_ms": {
            "count": len(hits),
            "median": 1000 * statistics.median(ordered),
            "p95": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": 1000 * ordered[-1],
        },
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hits", type=int, default=50)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--documents", default="", help="comma-separated names (default: all)")
    parser.add_argument("--copies", type=int, default=1, help="each document N times per round")
    parser.add_argument("--no-latexmk", action="store_true", help="skip the latexmk comparison")
    args = parser.parse_args()
    if shutil.which("latexmk") is None:
        print("latexmk not found", file=sys.stderr)
        return 1
    report = asyncio.run(run(args))
    service_median = statistics.median(report["service_seconds"])
    latexmk_median = statistics.median(report["latexmk_xargs_p2_seconds"] or [float("nan")])
    hit = report["cache_hit_ms"]
    print(
        f"documents per round: {len(report['documents'])} x {args.copies}, slots: {SLOTS},"
        f" rounds: {args.rounds}, message bytes: {report['message_bytes']}"
    )
    print(
        f"compiler CPU per compile (service + sandboxes): "
        f"{report['compiler_cpu_s_per_compile']:.3f} s"
    )
    print(f"{'':24}{'median s':>10}{'docs/s':>10}")
    print(f"{'service, 2 slots':24}{service_median:>10.2f}{report['service_docs_per_s']:>10.2f}")
    print(f"{'xargs -P2 latexmk':24}{latexmk_median:>10.2f}{report['latexmk_docs_per_s']:>10.2f}")
    print(f"throughput service/latexmk: {report['throughput_ratio']:.3f} (target >= 0.95)")
    print(
        f"cache hit, request to completed: median {hit['median']:.1f} ms,"
        f" p95 {hit['p95']:.1f} ms, max {hit['max']:.1f} ms (target <= 10 ms)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"compiler_throughput-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path.relative_to(ROOT)}  ({shlex.join(sys.argv)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
