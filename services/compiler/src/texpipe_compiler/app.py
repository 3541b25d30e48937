"""Composition root: broker, S3, engines, sandbox, the compile manager and the ops server."""

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import structlog
from faststream import ContextRepo, FastStream
from faststream.specification import AsyncAPI
from texpipe_contracts.v1 import Engine
from texpipe_servicekit.gate import GATE, DependencyGate, release_gate
from texpipe_servicekit.ops import OpsServer
from texpipe_servicekit.rabbit import broker_check, new_broker, prepare_topology
from texpipe_servicekit.s3 import open_s3_store

from texpipe_compiler import cgroups, deps, font_cache, metrics
from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import BundleLimits
from texpipe_compiler.compile_manager import CompileManager, CompilePolicy
from texpipe_compiler.config import Settings
from texpipe_compiler.consumer import BROKER, S3, SANDBOX, CompileConsumer
from texpipe_compiler.engines import Engines, probe_engines
from texpipe_compiler.format_files import FormatFiles
from texpipe_compiler.handlers import build_router
from texpipe_compiler.latex_runner import LatexRunner, RunnerLimits
from texpipe_compiler.outputs import PageCounter
from texpipe_compiler.sandbox import Mount, SandboxLayout, SandboxLimits, seccomp_program
from texpipe_compiler.sandbox_launcher import SandboxLauncher
from texpipe_compiler.slots import SlotPool
from texpipe_compiler.start_notices import StartNotices
from texpipe_compiler.start_points import StartPoints
from texpipe_compiler.starts import StartLedger
from texpipe_compiler.state_store import StateStore
from texpipe_compiler.storage import OutputStore

OUTPUT_CAP_BYTES = 256 * 1024
MAX_AUX_BYTES = 8 * 1024 * 1024
MAX_AUX_FILES = 500
MAX_AUX_TOTAL_BYTES = 32 * 1024 * 1024
SERVICE_THREADS_ALLOWANCE = 256
PAGE_COUNT_TIMEOUT_S = 30.0
"""pypdf's time to count the pages of a PDF under the size cap."""

log = structlog.get_logger(__name__)


def _runner_limits(settings: Settings) -> RunnerLimits:
    return RunnerLimits(
        max_passes=settings.max_passes,
        max_pdf_bytes=settings.max_pdf_bytes,
        max_log_bytes=settings.max_log_bytes,
        output_cap_bytes=OUTPUT_CAP_BYTES,
        max_aux_bytes=MAX_AUX_BYTES,
        max_aux_files=MAX_AUX_FILES,
        max_aux_total_bytes=MAX_AUX_TOTAL_BYTES,
    )


def _sandbox_limits(settings: Settings, shared_uid: bool) -> SandboxLimits:
    processes = settings.sandbox_processes
    if shared_uid:
        # Not root: every sandbox runs as the service's own uid, and RLIMIT_NPROC counts all
        # of that uid's processes and threads (the service's included), not one job's.
        processes = processes * settings.compiler_concurrency + SERVICE_THREADS_ALLOWANCE
    return SandboxLimits(
        address_space_bytes=settings.sandbox_memory_bytes,
        # A PDF over the cap must be cut short by the kernel, not read whole.
        file_size_bytes=max(settings.sandbox_file_bytes, settings.max_pdf_bytes + 1),
        open_files=settings.sandbox_open_files,
        processes=processes,
        tmpfs_bytes=settings.sandbox_tmpfs_bytes,
    )


def _policy(settings: Settings) -> CompilePolicy:
    return CompilePolicy(
        bundle=BundleLimits(settings.max_project_files, settings.max_bundle_bytes),
        max_bundle_bytes=settings.max_bundle_bytes,
        max_pdf_pages=settings.max_pdf_pages,
        max_timeout_ms=settings.compile_timeout_ms,
        source_date_epoch=settings.source_date_epoch,
    )


SANDBOX_PROBE_CPU_S = 10


async def _sandbox_probe(launcher: SandboxLauncher, slots: SlotPool) -> None:
    """Raises while no sandbox can be started (bubblewrap, a job's control group, the host's
    descriptors or processes): the probe of the consumer's ``sandbox`` dependency."""
    async with slots.slot() as uid, launcher.session(uid, SANDBOX_PROBE_CPU_S):
        pass


async def _warm_luatex_cache(
    launcher: SandboxLauncher, runner: LatexRunner, slots: SlotPool, cache_dir: Path
) -> None:
    try:
        # A wall clock too (the sandbox's CPU limit does not end a wait): it holds a slot.
        async with asyncio.timeout(font_cache.WARMUP_TIMEOUT_S), slots.slot() as uid:
            if await font_cache.prepare_luatex_cache(launcher, cache_dir, uid):
                runner.use_luatex_cache(font_cache.MOUNT_POINT)
    except Exception:  # a missing cache makes LuaLaTeX slower, never wrong
        log.exception("luatex_cache_not_prepared")


def create_app(settings: Settings) -> FastStream:
    """The compiler: one subscriber, ``compiler_concurrency`` sandboxes at most."""
    topo = settings.topology()
    broker = new_broker(
        settings.amqp_url.get_secret_value(),
        service="texpipe_compiler",
        graceful_timeout=settings.shutdown_grace_s,
        reconnect_s=settings.amqp_reconnect_s,
    )
    faststream_logger = logging.getLogger("texpipe_compiler.faststream")
    # Names this process: its start markers in S3 and its own queue of cancels.
    instance = uuid.uuid4().hex
    broker.include_router(build_router(topo, settings.compiler_concurrency, instance))

    @contextlib.asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            store = await stack.enter_async_context(open_s3_store(settings))
            engines = await probe_engines(settings.compiler_engines, settings.tectonic_dir)
            prepared = await asyncio.to_thread(font_cache.prepared_fonts, settings.font_cache_dir)
            if prepared is None:
                # Still compiles: LuaLaTeX jobs build their own until the warm-up below is done;
                # XeTeX sees the system fonts only.
                log.warning("font_cache_not_current", folder=str(settings.font_cache_dir))
                fonts = font_cache.PreparedFonts(
                    await asyncio.to_thread(_private_dir, "texpipe-luatex-cache-"), None
                )
                stack.callback(shutil.rmtree, fonts.luatex, True)
            else:
                fonts = prepared
            uid_base = settings.sandbox_uid_base if os.geteuid() == 0 else None
            job_groups = await asyncio.to_thread(_job_groups, settings)
            # Formats (files/) and each sandbox's folder of them: one file system (hard links).
            format_root = await asyncio.to_thread(_private_dir, "texpipe-formats-")
            stack.callback(shutil.rmtree, format_root, True)
            launcher = SandboxLauncher(
                _layout(settings, engines, fonts),
                _sandbox_limits(settings, shared_uid=uid_base is None),
                await asyncio.to_thread(seccomp_program),
                job_groups,
                format_root=format_root,
                spares=settings.sandbox_spares,
            )
            stack.push_async_callback(launcher.aclose)
            runner = LatexRunner(launcher, _runner_limits(settings))
            if prepared is not None:
                runner.use_luatex_cache(font_cache.MOUNT_POINT)
                runner.use_fontconfig(font_cache.FONTCONFIG_FILE)
            slots = SlotPool(settings.compiler_concurrency, uid_base)
            pages = PageCounter(PAGE_COUNT_TIMEOUT_S)
            stack.push_async_callback(pages.aclose)
            starts = None
            if settings.incremental_compiles:
                format_files = await asyncio.to_thread(_private_dir, "files-", format_root)
                formats = FormatFiles(format_files, max_bytes=settings.format_cache_bytes)
                starts = StartPoints(
                    StateStore(store, formats), runner, slots,
                    dump_timeout_s=settings.compile_timeout_ms / 1000,
                )  # fmt: skip
                stack.push_async_callback(starts.aclose)
            notices = StartNotices(broker, topo, instance)
            stack.push_async_callback(notices.aclose)
            manager = CompileManager(
                _policy(settings), OutputStore(store), runner, engines, slots, pages, starts,
                on_started=notices.notify,
            )  # fmt: skip
            gate = DependencyGate(
                {
                    S3: store.ping,
                    BROKER: broker_check(broker),
                    SANDBOX: partial(_sandbox_probe, launcher, slots),
                },
                base_s=settings.probe_base_s,
                cap_s=settings.probe_cap_s,
            )
            context.set_global(GATE, gate)
            stack.push_async_callback(gate.close)
            consumer = CompileConsumer(
                broker, topo, manager,
                ledger=StartLedger(store, instance), gate=gate,
                deadline_s=settings.message_deadline_s, max_starts=settings.compile_max_starts,
                concurrency=settings.compiler_concurrency,
            )  # fmt: skip
            context.set_global(deps.CONSUMER, consumer)
            await prepare_topology(
                settings.amqp_url.get_secret_value(), topo, service="texpipe-compiler"
            )
            await broker.connect()
            warm = None
            if prepared is None and Engine.LUALATEX in engines.available:
                warm = asyncio.create_task(
                    _warm_luatex_cache(launcher, runner, slots, fonts.luatex)
                )
            checks = {
                "broker": broker_check(broker),
                "s3": store.ping,
                "engines": engines.check,
                "consuming": gate.check,
            }
            if job_groups is not None:
                checks["cgroups"] = partial(asyncio.to_thread, job_groups.check)
            ops = OpsServer(settings.ops_host, settings.ops_port, checks)
            await ops.start()
            log.info(
                "compiler_started",
                engines=sorted(engines.available),
                slots=settings.compiler_concurrency,
                cgroups=job_groups.version if job_groups else "none",
            )
            try:
                yield
            finally:
                if warm is not None:
                    warm.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await warm
                await ops.stop()
                log.info("compiler_stopped")

    return FastStream(
        broker,
        lifespan=lifespan,
        on_shutdown=[release_gate],
        logger=faststream_logger,
        specification=AsyncAPI(title="texpipe-compiler", version="1.0.0"),
    )


def _job_groups(settings: Settings) -> cgroups.Cgroups | None:
    """Control groups for the jobs, as available and asked for; said in logs and metrics."""
    limits = cgroups.JobLimits(
        memory_bytes=settings.sandbox_job_memory_bytes,
        processes=settings.sandbox_processes,
        cpus=settings.sandbox_cpus,
    )
    groups = cgroups.detect(settings.sandbox_cgroups, limits)
    version = groups.version if groups else "none"
    metrics.SANDBOX_CGROUPS.labels(version=version).set(1)
    if groups is None:
        log.warning("compile_jobs_without_cgroups", mode=settings.sandbox_cgroups.value)
    else:
        swept = groups.sweep()
        log.info("compile_jobs_in_cgroups", version=version, parents=groups.where, swept=swept)
    return groups


def _private_dir(prefix: str, parent: Path | None = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o755)  # the sandbox's uid reads it, through a read-only mount
    return path


def _layout(settings: Settings, engines: Engines, fonts: font_cache.PreparedFonts) -> SandboxLayout:
    mounts = [Mount(str(fonts.luatex), font_cache.MOUNT_POINT)]
    if fonts.fontconfig is not None:
        mounts.append(Mount(str(fonts.fontconfig), font_cache.FONTCONFIG_MOUNT_POINT))
    if Engine.TECTONIC in engines.available:
        mounts.append(Mount(str(settings.tectonic_dir.resolve()), cmd.TECTONIC_ROOT))
    return SandboxLayout(python=settings.sandbox_python, extra_ro_mounts=tuple(mounts))
