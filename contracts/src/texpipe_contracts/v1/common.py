"""Types shared by the v1 messages."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Sha256Hex = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="Lower-case hex SHA-256 digest.", examples=["9f86d08" + "0" * 57]),
]
ObjectKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9._/-]+$"),
    Field(description="S3 object key inside the deployment's bucket."),
]


class Engine(StrEnum):
    """The TeX engines a compile may use."""

    PDFLATEX = "pdflatex"
    XELATEX = "xelatex"
    LUALATEX = "lualatex"
    TECTONIC = "tectonic"


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every texpipe message carries.

    Unknown fields are ignored so that adding an optional field stays compatible; the schema
    name and major version are literals in each message, so another version is refused.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)

    message_id: UUID = Field(
        default_factory=uuid4,
        description="Unique per message; consumers use it to recognise a redelivery.",
    )
    job_id: UUID = Field(
        description="The compile job; also the AMQP correlation id of the message.",
    )
    produced_at: datetime = Field(
        default_factory=_now, description="When the producer created the message (UTC)."
    )

    @property
    def correlation_id(self) -> str:
        """The AMQP correlation id: the job id."""
        return str(self.job_id)
