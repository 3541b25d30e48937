"""The applier's settings, read once from the environment in ``__main__`` (or a test)."""

from typing import Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from texpipe_servicekit.settings import AmqpSettings, LogSettings, OpsSettings

from texpipe_applier.retry import DEFAULT_BASE_S, DEFAULT_CAP_S, DEFAULT_MAX_RETRIES, RetryPolicy

DEFAULT_OPS_PORT = 8082


class BrokerSettings(AmqpSettings, LogSettings):
    """What the operator commands (``texpipe-applier dlq ...``) need: the broker only."""


class Settings(BrokerSettings, OpsSettings):
    """Everything the running applier needs."""

    ops_port: int = Field(default=DEFAULT_OPS_PORT, ge=0, le=65535)
    api_url: str = Field(
        default="http://127.0.0.1:8080",
        pattern=r"^https?://[^/\s]+(/.*)?$",
        description="Base URL of the api; the internal endpoints are under /internal/v1/.",
    )
    service_token: SecretStr = Field(min_length=1, description="Bearer token for the api.")
    api_connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    api_total_timeout_s: float = Field(
        default=30.0, gt=0, le=300, description="Whole call, connect to last byte."
    )
    apply_max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES,
        ge=0,
        le=50,
        # The platform's historical name has no TEXPIPE_ prefix (docs/architecture.md).
        validation_alias=AliasChoices("APPLY_MAX_RETRIES", "TEXPIPE_APPLY_MAX_RETRIES"),
    )
    apply_retry_base_s: float = Field(default=DEFAULT_BASE_S, gt=0, le=3600)
    apply_retry_cap_s: float = Field(default=DEFAULT_CAP_S, gt=0, le=6 * 3600)
    apply_prefetch: int = Field(
        default=16, ge=1, le=1000, description="Results in flight at once (each is an HTTP call)."
    )

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.apply_retry_cap_s < self.apply_retry_base_s:
            raise ValueError(
                "TEXPIPE_APPLY_RETRY_CAP_S must not be below TEXPIPE_APPLY_RETRY_BASE_S"
            )
        return self

    def retry_policy(self) -> RetryPolicy:
        """The backoff schedule of result retries."""
        return RetryPolicy(
            base_s=self.apply_retry_base_s,
            cap_s=self.apply_retry_cap_s,
            max_retries=self.apply_max_retries,
        )
