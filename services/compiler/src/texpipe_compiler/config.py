"""The compiler's settings, read once from the environment in ``__main__`` (or a test)."""

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from texpipe_contracts.v1 import Engine
from texpipe_contracts.v1.commands import MAX_TIMEOUT_MS
from texpipe_servicekit.settings import AmqpSettings, LogSettings, OpsSettings, S3Settings

from texpipe_compiler.cgroups import CgroupMode

MiB = 1024 * 1024
DEFAULT_OPS_PORT = 8081
DEFAULT_COMPILE_TIMEOUT_MS = 120_000
BROKER_ACK_TIMEOUT_S = 30 * 60
"""RabbitMQ's consumer ack timeout (its default): a delivery unacked this long is taken back."""
IO_MARGIN_S = 120.0
"""What one message may take besides its compile: fetching the source, counting pages,
uploading the outputs, publishing the result (each bounded on its own, none of them slow)."""
ACK_SAFETY_S = 60.0
MAX_GRACE_S = 1500.0
GRACE_MARGIN_S = 30.0
"""Shutdown grace beyond the compile timeout: the uploads and the publish after a compile."""


def _default_concurrency() -> int:
    return os.cpu_count() or 1


def _default_tectonic_dir() -> Path:
    # The repository's .tools/ (``make tectonic``) when running from a checkout, else ./.tools.
    checkout = Path(__file__).resolve().parents[4]
    if (checkout / "pyproject.toml").exists():
        return checkout / ".tools" / "tectonic"
    return Path.cwd() / ".tools" / "tectonic"


def _default_font_cache_dir() -> Path:
    return _default_tectonic_dir().parent / "font-cache"  # ``make font-cache``


def message_deadline_s(compile_timeout_ms: int) -> float:
    """The wall clock of one message from delivery to ack: its compile plus the I/O around
    it, always below the broker's ack timeout (past it the broker would take it back)."""
    return min(compile_timeout_ms / 1000 + IO_MARGIN_S, BROKER_ACK_TIMEOUT_S - ACK_SAFETY_S)


def _default_grace_s(data: dict[str, Any]) -> float:
    # A rolling restart should let a compile that just started finish, not burn a delivery.
    timeout_ms = data.get("compile_timeout_ms", DEFAULT_COMPILE_TIMEOUT_MS)
    if not isinstance(timeout_ms, int):  # it failed its own validation, which reports it
        timeout_ms = DEFAULT_COMPILE_TIMEOUT_MS
    return min(timeout_ms / 1000 + GRACE_MARGIN_S, MAX_GRACE_S)


class _CompileTimeoutSettings(BaseSettings):
    """The compile timeout alone, the last base of ``Settings``: pydantic validates the fields
    of later bases first, so the shutdown grace's default can be derived from it."""

    model_config = SettingsConfigDict(env_prefix="TEXPIPE_", extra="ignore", frozen=True)

    compile_timeout_ms: int = Field(
        default=DEFAULT_COMPILE_TIMEOUT_MS,
        ge=1000,
        le=MAX_TIMEOUT_MS,
        # The platform's historical name has no TEXPIPE_ prefix (docs/architecture.md).
        validation_alias=AliasChoices("LATEX_COMPILE_TIMEOUT_MS", "TEXPIPE_COMPILE_TIMEOUT_MS"),
        description="The longest compile this compiler runs, whatever a request asks for.",
    )


class Settings(AmqpSettings, S3Settings, LogSettings, OpsSettings, _CompileTimeoutSettings):
    """Everything the compiler needs; limits have bounds checked at startup."""

    ops_port: int = Field(default=DEFAULT_OPS_PORT, ge=0, le=65535)
    shutdown_grace_s: float = Field(
        default_factory=_default_grace_s,
        ge=0,
        le=MAX_GRACE_S,
        description="How long in-flight compiles may finish on SIGTERM (default: the compile "
        "timeout plus the uploads after it).",
    )
    compiler_concurrency: int = Field(
        default_factory=_default_concurrency, ge=1, le=256, description="Compiles at once."
    )
    compiler_engines: list[Engine] = Field(
        default_factory=lambda: list(Engine),
        description="Enabled engines (JSON list); /ready fails if one of them is missing.",
    )
    tectonic_dir: Path = Field(default_factory=_default_tectonic_dir)
    font_cache_dir: Path = Field(
        default_factory=_default_font_cache_dir,
        description="Font databases prepared by `python -m texpipe_compiler.font_cache DIR`, "
        "used while current; else luaotfload's is built at startup.",
    )
    sandbox_python: str = Field(default="/usr/bin/python3", pattern=r"^/")
    sandbox_uid_base: int = Field(
        default=64000,
        ge=1000,
        le=4_000_000_000,
        description="When the service runs as root, compile slot N runs as uid/gid base+N.",
    )
    max_bundle_bytes: int = Field(default=64 * MiB, ge=1024, le=4096 * MiB)
    max_project_files: int = Field(default=5000, ge=1, le=100_000)
    max_pdf_bytes: int = Field(default=64 * MiB, ge=1024, le=2048 * MiB)
    max_pdf_pages: int = Field(default=2000, ge=1, le=1_000_000)
    max_log_bytes: int = Field(default=8 * MiB, ge=64 * 1024, le=256 * MiB)
    max_passes: int = Field(default=5, ge=1, le=20)
    sandbox_tmpfs_bytes: int = Field(default=1024 * MiB, ge=16 * MiB)
    sandbox_memory_bytes: int = Field(
        default=4096 * MiB, ge=256 * MiB, description="Address-space limit of each process."
    )
    sandbox_file_bytes: int = Field(
        default=256 * MiB, ge=MiB, description="Largest file a sandboxed process may write."
    )
    sandbox_open_files: int = Field(default=256, ge=32, le=65536)
    sandbox_processes: int = Field(default=64, ge=8, le=4096)
    compile_max_starts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Starts of one request by compilers that died before finishing it, after "
        "which it is dead-lettered (the queue's delivery limit stays a backstop far above).",
    )
    sandbox_cgroups: CgroupMode = Field(
        default=CgroupMode.AUTO,
        description="A control group per job: auto (when this process may make them), "
        "required (refuse to start without), off.",
    )
    sandbox_job_memory_bytes: int = Field(
        default=3072 * MiB,
        ge=256 * MiB,
        description="Memory of one job's control group: every process, its tmpfs, memfd "
        "and kernel memory, no swap.",
    )
    sandbox_cpus: float = Field(
        default=1.0, gt=0.01, le=256, description="CPU quota of one job's control group."
    )
    incremental_compiles: bool = Field(
        default=True,
        description="Start a compile from the auxiliary state of the document's last settled "
        "compile and from a dumped format of its unchanged preamble (kept in S3 per document).",
    )
    sandbox_spares: bool = Field(
        default=True,
        description="Start the next sandbox of a compile slot as soon as its job ends, so a "
        "compile does not wait ~50 ms for bubblewrap and the driver (a spare is never used "
        "by two jobs).",
    )
    format_cache_bytes: int = Field(
        default=1024 * MiB,
        ge=64 * MiB,
        description="Disk kept for preamble formats as uncompressed files (a private folder "
        "under TMPDIR; ~22 MB per format of an article with amsmath and hyperref).",
    )
    source_date_epoch: int = Field(
        default=0,
        ge=0,
        description="SOURCE_DATE_EPOCH of a request that carries none (a request carries its "
        "revision's time): fixed, so equal sources give equal PDFs.",
    )

    @field_validator("compiler_engines")
    @classmethod
    def _no_duplicates(cls, engines: list[Engine]) -> list[Engine]:
        return sorted(set(engines))

    @property
    def message_deadline_s(self) -> float:
        """How long one message may take from delivery to ack (see ``message_deadline_s``)."""
        return message_deadline_s(self.compile_timeout_ms)
