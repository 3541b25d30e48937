"""The api's settings, read once from the environment in ``__main__`` (or by a test)."""

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from texpipe_contracts.v1.commands import MAX_TIMEOUT_MS
from texpipe_servicekit.settings import AmqpSettings, LogSettings, S3Settings

MIB = 1024 * 1024


class DatabaseSettings(BaseSettings):
    """Enough for ``migrate`` and ``create-token``, which need no broker or S3."""

    model_config = SettingsConfigDict(env_prefix="TEXPIPE_", extra="ignore", frozen=True)

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/texpipe")


class Settings(DatabaseSettings, AmqpSettings, S3Settings, LogSettings):
    """Everything the api reads from ``TEXPIPE_*`` (and ``LATEX_COMPILE_TIMEOUT_MS``)."""

    # Tests pass fields by name, including the one whose environment name is an alias.
    model_config = SettingsConfigDict(populate_by_name=True)

    service_token: SecretStr = Field(min_length=16, description="Secret of /internal callers.")
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    api_reuse_port: bool = Field(
        default=False, description="SO_REUSEPORT: several api processes share one port."
    )

    api_access_log: bool = Field(
        default=False, description="One log line per request (metrics count them anyway)."
    )
    # DESIGN.md: the keep-alive outlives the proxies in front of the api.
    keepalive_timeout_s: float = Field(default=65.0, ge=1, le=3600)
    shutdown_timeout_s: float = Field(default=30.0, ge=0, le=600)

    compile_timeout_ms: int = Field(
        default=120_000,
        ge=1000,
        le=MAX_TIMEOUT_MS,
        # The platform-wide name from DESIGN.md, shared with the compiler: no TEXPIPE_ prefix.
        validation_alias=AliasChoices("LATEX_COMPILE_TIMEOUT_MS", "latex_compile_timeout_ms"),
    )

    # Limits on what a client may send (413 / 422 naming the rule).
    max_body_bytes: int = Field(default=64 * MIB, ge=1024)
    max_files: int = Field(default=5000, ge=1)
    max_source_bytes: int = Field(default=32 * MIB, ge=1)
    max_log_bytes: int = Field(default=16 * MIB, ge=1024)
    max_pdf_bytes: int = Field(default=256 * MIB, ge=1024)

    # Long-poll and presigned URLs.
    max_wait_s: float = Field(default=60.0, ge=0, le=60)
    presign_expires_s: int = Field(default=300, ge=10, le=3600)

    # Document event streams (GET /v1/documents/{id}/events).
    max_event_streams_per_tenant: int = Field(
        default=20, ge=1, le=10_000, description="Open streams per tenant and api process."
    )
    event_heartbeat_s: float = Field(
        default=15.0, gt=0, le=300, description="A comment line this often keeps proxies open."
    )

    # PostgreSQL pool.
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=16, ge=1)

    # The outbox relay.
    relay_enabled: bool = True
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_sweep_s: float = Field(default=5.0, gt=0, le=300)
    relay_retry_s: float = Field(default=1.0, gt=0, le=60)
    relay_linger_s: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="How long the relay waits for more rows after a wake while it is under "
        "load (rows came in while it published); a wake of an idle relay publishes at once.",
    )
    relay_workers: int = Field(default=4, ge=1, le=32)
    relay_settle_s: float = Field(
        default=0.3,
        ge=0,
        le=10,
        description="A compile request of a document whose earlier request was superseded "
        "within this time waits until it is this old: a burst of edits (10 edits 100 ms apart, "
        "issue 13) compiles its first and its newest revision, not the one that happens to be "
        "newest when a compile ends. 0: no wait.",
    )
    relay_settle_max_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="The settle rule never holds a request longer than this after its "
        "document's last compile request went out: a document edited without pause still gets "
        "a compile about this often.",
    )
    relay_hold_max_s: float = Field(
        default=600.0,
        gt=0,
        le=86_400,
        description="A job published this long ago no longer holds its document's next job.",
    )

    # Retention of finished jobs.
    job_retention_days: float = Field(default=30.0, gt=0)
    prune_interval_s: float = Field(default=3600.0, gt=0)

    # SyncTeX queries: TeX Live's synctex in a bubblewrap sandbox (synctex_runner.py).
    synctex_command: str = Field(default="/usr/bin/synctex", pattern=r"^/")
    synctex_bwrap: str = Field(default="/usr/bin/bwrap", pattern=r"^/")
    synctex_max_bytes: int = Field(
        default=32 * MIB, ge=1024, description="Largest SyncTeX file read (gzip), as kept."
    )
    synctex_timeout_s: float = Field(default=10.0, gt=0, le=120)
    synctex_memory_bytes: int = Field(default=1024 * MIB, ge=64 * MIB)
    synctex_concurrency: int = Field(default=2, ge=1, le=64)

    # Token lookups are cached briefly; a revoked token stops working after at most this.
    token_cache_s: float = Field(default=30.0, ge=0, le=3600)
