"""Fixtures of the compiler's integration tests: a real sandbox over the installed TeX."""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from pydantic import SecretStr
from texpipe_compiler import cgroups, font_cache
from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import BundleLimits
from texpipe_compiler.compile_manager import CompileManager, CompilePolicy
from texpipe_compiler.engines import probe_engines
from texpipe_compiler.format_files import FormatFiles
from texpipe_compiler.latex_runner import LatexRunner, RunnerLimits
from texpipe_compiler.outputs import PageCounter
from texpipe_compiler.sandbox import Mount, SandboxLayout, SandboxLimits, seccomp_program
from texpipe_compiler.sandbox_launcher import SandboxLauncher
from texpipe_compiler.slots import SlotPool
from texpipe_compiler.storage import OutputStore
from texpipe_contracts.v1 import Engine
from texpipe_servicekit.s3 import S3Store, open_s3_store
from texpipe_servicekit.settings import S3Settings
from texpipe_testing.seaweed import S3Server

REPO = Path(__file__).resolve().parents[4]
TECTONIC_DIR = REPO / ".tools" / "tectonic"
FONT_CACHE_DIR = REPO / ".tools" / "font-cache"
MiB = 1024 * 1024
MANAGER_EPOCH = 1


@pytest.fixture(scope="session")
def tectonic_dir() -> Path:
    """Tectonic installed offline (``make tectonic``; a no-op when already done)."""
    script = REPO / "services" / "compiler" / "scripts" / "install_tectonic.py"
    subprocess.run([sys.executable, str(script), "--dest", str(TECTONIC_DIR)], check=True)
    return TECTONIC_DIR


@pytest.fixture(scope="session")
def sandbox_uids() -> range:
    """uids no other test run uses, so 'no process left' can be checked by uid."""
    base = 70_000 + secrets.randbelow(1000) * 16
    return range(base, base + 8) if os.geteuid() == 0 else range(os.geteuid(), os.geteuid() + 1)


@pytest.fixture(scope="session")
def sandbox_uid(sandbox_uids: range) -> int | None:
    """The uid compiles run as in these tests (None: the tests do not run as root)."""
    return sandbox_uids.start if os.geteuid() == 0 else None


@pytest.fixture(scope="session")
def prepared_fonts() -> font_cache.PreparedFonts:
    """The font databases as ``make font-cache`` prepares them (a no-op when current)."""
    subprocess.run(
        [sys.executable, "-m", "texpipe_compiler.font_cache", str(FONT_CACHE_DIR)], check=True
    )
    fonts = font_cache.prepared_fonts(FONT_CACHE_DIR)
    assert fonts is not None
    return fonts


def runner_limits() -> RunnerLimits:
    """The limits the service uses by default, smaller where a test wants to hit them."""
    return RunnerLimits(
        max_passes=5,
        max_pdf_bytes=16 * MiB,
        max_log_bytes=4 * MiB,
        output_cap_bytes=256 * 1024,
        max_aux_bytes=4 * MiB,
        max_aux_files=200,
        max_aux_total_bytes=32 * MiB,
    )


@pytest.fixture(scope="session")
def layout(tectonic_dir: Path, prepared_fonts: font_cache.PreparedFonts) -> SandboxLayout:
    """What the sandbox shows, as the service lays it out."""
    assert prepared_fonts.fontconfig is not None
    return SandboxLayout(
        python="/usr/bin/python3",
        extra_ro_mounts=(
            Mount(str(prepared_fonts.luatex), font_cache.MOUNT_POINT),
            Mount(str(prepared_fonts.fontconfig), font_cache.FONTCONFIG_MOUNT_POINT),
            Mount(str(tectonic_dir), cmd.TECTONIC_ROOT),
        ),
    )


@pytest_asyncio.fixture(scope="session")
async def launcher(layout: SandboxLayout) -> SandboxLauncher:
    """A sandbox launcher as the service makes it."""
    return SandboxLauncher(layout, sandbox_limits(), seccomp_program(), job_groups())


def sandbox_limits() -> SandboxLimits:
    """The rlimits and tmpfs size of these tests' sandboxes (smaller files and tmpfs than the
    service's defaults)."""
    return SandboxLimits(
        address_space_bytes=4096 * MiB,
        file_size_bytes=32 * MiB,
        open_files=256,
        processes=64,
        tmpfs_bytes=256 * MiB,
    )


JOB_LIMITS = cgroups.JobLimits(memory_bytes=1536 * MiB, processes=64, cpus=1.0)


def job_groups(limits: cgroups.JobLimits = JOB_LIMITS) -> cgroups.Cgroups | None:
    """Control groups per job as the service makes them: required when the tests run as
    root (CI, this machine), none otherwise (the tests pass both ways)."""
    mode = cgroups.CgroupMode.REQUIRED if os.geteuid() == 0 else cgroups.CgroupMode.AUTO
    return cgroups.detect(mode, limits)


@pytest_asyncio.fixture(scope="session")
async def runner(launcher: SandboxLauncher) -> LatexRunner:
    """A LaTeX runner with the prepared font databases, as the service uses them."""
    latex_runner = LatexRunner(launcher, runner_limits())
    latex_runner.use_luatex_cache(font_cache.MOUNT_POINT)
    latex_runner.use_fontconfig(font_cache.FONTCONFIG_FILE)
    return latex_runner


@pytest.fixture
def format_files() -> Iterator[FormatFiles]:
    """A folder of formats as the service keeps it (readable by every slot's uid)."""
    folder = Path(tempfile.mkdtemp(prefix="texpipe-test-formats-"))
    folder.chmod(0o755)
    yield FormatFiles(folder, max_bytes=512 * MiB)
    shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def s3_store(s3: S3Server) -> AsyncIterator[S3Store]:
    """The session's real S3 bucket (SeaweedFS)."""
    settings = S3Settings(
        s3_endpoint_url=s3.endpoint_url,
        s3_bucket=s3.bucket,
        s3_access_key=SecretStr(s3.access_key),
        s3_secret_key=SecretStr(s3.secret_key),
    )
    async with open_s3_store(settings) as store:
        yield store


@pytest_asyncio.fixture(scope="session")
async def page_counter() -> AsyncIterator[PageCounter]:
    """Counts pages as the service does."""
    counter = PageCounter(timeout_s=30)
    yield counter
    await counter.aclose()


@pytest_asyncio.fixture(scope="session")
async def manager(
    runner: LatexRunner,
    s3_store: S3Store,
    tectonic_dir: Path,
    sandbox_uids: range,
    page_counter: PageCounter,
) -> CompileManager:
    """The compile manager over the real sandbox and S3, with test-sized limits.

    Its SOURCE_DATE_EPOCH differs from the service's default so that the service tests of
    this session never hit outputs cached here (the epoch is part of the cache key).
    """
    engines = await probe_engines(list(Engine), tectonic_dir)
    uid_base = sandbox_uids.start if os.geteuid() == 0 else None
    slots = SlotPool(2, uid_base)
    return CompileManager(
        compile_policy(), OutputStore(s3_store), runner, engines, slots, page_counter
    )


def compile_policy() -> CompilePolicy:
    """The limits of the tests' compile manager (500 pages at most)."""
    return CompilePolicy(
        bundle=BundleLimits(max_files=200, max_bytes=8 * MiB),
        max_bundle_bytes=8 * MiB,
        max_pdf_pages=500,
        max_timeout_ms=60_000,
        source_date_epoch=MANAGER_EPOCH,
    )
