"""pydantic-settings mixins; a service's ``Settings`` subclasses the ones it needs."""

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from texpipe_contracts.topology import Topology, build_topology

_CONFIG = SettingsConfigDict(env_prefix="TEXPIPE_", extra="ignore", frozen=True)


def broker_addresses(amqp_url: str) -> list[str]:
    """The broker addresses in ``amqp_url``: one URL, or several separated by commas (the
    nodes of one cluster, each a whole ``amqp://`` or ``amqps://`` URL).

    Raises ValueError for an empty list or an address of another scheme.
    """
    addresses = [part.strip() for part in amqp_url.split(",") if part.strip()]
    if not addresses:
        raise ValueError("no broker address given")
    for address in addresses:
        if not address.startswith(("amqp://", "amqps://")):
            shown = address.split("@")[-1]
            raise ValueError(f"broker address {shown!r} is not an amqp:// or amqps:// URL")
    return addresses


class AmqpSettings(BaseSettings):
    """Where the broker is and which namespace of it this deployment uses."""

    model_config = _CONFIG

    amqp_url: SecretStr = Field(
        default=SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
        description="The broker's address, or the addresses of a cluster's nodes separated by"
        " commas: the service connects to one and moves to another when its node goes away.",
    )
    namespace: str = Field(
        default="",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$|^$",
        description="Prefix of every exchange and queue name; empty in a normal deployment.",
    )
    amqp_reconnect_s: float = Field(
        default=5.0, gt=0, le=300, description="Wait between attempts to reconnect to the broker."
    )

    @field_validator("amqp_url")
    @classmethod
    def _addresses(cls, value: SecretStr) -> SecretStr:
        broker_addresses(value.get_secret_value())
        return value

    def topology(self) -> Topology:
        """The broker topology of this deployment."""
        return build_topology(self.namespace)


class S3Settings(BaseSettings):
    """The S3 endpoint and bucket that hold sources and outputs."""

    model_config = _CONFIG

    s3_endpoint_url: str = "http://127.0.0.1:8333"
    s3_bucket: str = "texpipe"
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    s3_region: str = "us-east-1"
    s3_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    s3_read_timeout_s: float = Field(default=30.0, gt=0, le=600)


class LogSettings(BaseSettings):
    """How the service logs."""

    model_config = _CONFIG

    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    log_format: str = Field(default="json", pattern=r"^(json|console)$")


class OpsSettings(BaseSettings):
    """Where a broker-driven service serves /health, /ready and /metrics."""

    model_config = _CONFIG

    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=8081, ge=0, le=65535)
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, le=1500, description="How long in-flight work may finish on SIGTERM."
    )
    probe_base_s: float = Field(
        default=1.0, gt=0, le=60, description="First wait before probing a dependency that is down."
    )
    probe_cap_s: float = Field(
        default=30.0, gt=0, le=600, description="Longest wait between probes of a dependency."
    )

    @model_validator(mode="after")
    def _probe_cap_not_below_base(self) -> Self:
        if self.probe_cap_s < self.probe_base_s:
            raise ValueError("TEXPIPE_PROBE_CAP_S must not be below TEXPIPE_PROBE_BASE_S")
        return self
