"""The compiler's settings, read once from the environment in ``__main__`` (or a test)."""

import os
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from texpipe_contracts.v1 import Engine
from texpipe_contracts.v1.commands import MAX_TIMEOUT_MS
from texpipe_servicekit.settings import AmqpSettings, LogSettings, OpsSettings, S3Settings

MiB = 1024 * 1024
DEFAULT_OPS_PORT = 8081


def _default_concurrency() -> int:
    return os.cpu_count() or 1


def _default_tectonic_dir() -> Path:
    # The repository's .tools/ (``make tectonic``) when running from a checkout, else ./.tools.
    checkout = Path(__file__).resolve().parents[4]
    if (checkout / "pyproject.toml").exists():
        return checkout / ".tools" / "tectonic"
    return Path.cwd() / ".tools" / "tectonic"


class Settings(AmqpSettings, S3Settings, LogSettings, OpsSettings):
    """Everything the compiler needs; limits have bounds checked at startup."""

    ops_port: int = Field(default=DEFAULT_OPS_PORT, ge=0, le=65535)
    compiler_concurrency: int = Field(
        default_factory=_default_concurrency, ge=1, le=256, description="Compiles at once."
    )
    compile_timeout_ms: int = Field(
        default=120_000,
        ge=1000,
        le=MAX_TIMEOUT_MS,
        # The platform's historical name has no TEXPIPE_ prefix (docs/architecture.md).
        validation_alias=AliasChoices("LATEX_COMPILE_TIMEOUT_MS", "TEXPIPE_COMPILE_TIMEOUT_MS"),
        description="The longest compile this compiler runs, whatever a request asks for.",
    )
    compiler_engines: list[Engine] = Field(
        default_factory=lambda: list(Engine),
        description="Enabled engines (JSON list); /ready fails if one of them is missing.",
    )
    tectonic_dir: Path = Field(default_factory=_default_tectonic_dir)
    sandbox_python: str = Field(default="/usr/bin/python3", pattern=r"^/")
    sandbox_uid_base: int = Field(
        default=64000,
        ge=1000,
        le=4_000_000_000,
        description="When the service runs as root, compile slot N runs as uid/gid base+N.",
    )
    max_bundle_bytes: int = Field(default=64 * MiB, ge=1024, le=4096 * MiB)
    max_project_files: int = Field(default=2000, ge=1, le=100_000)
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
    source_date_epoch: int = Field(
        default=0,
        ge=0,
        description="SOURCE_DATE_EPOCH of every compile: fixed, so equal sources give equal PDFs.",
    )

    @field_validator("compiler_engines")
    @classmethod
    def _no_duplicates(cls, engines: list[Engine]) -> list[Engine]:
        return sorted(set(engines))

    def timeout_s(self, requested_ms: int) -> float:
        """The wall clock of a compile: what it asked for, at most this compiler's limit."""
        return min(requested_ms, self.compile_timeout_ms) / 1000
