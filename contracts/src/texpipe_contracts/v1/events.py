"""Events: facts that happened, in the past tense."""

from enum import StrEnum
from typing import Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1.common import Engine, Envelope, ObjectKey, Sha256Hex


class Outcome(StrEnum):
    """How a compile ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"


class ObjectRef(BaseModel):
    """An object in S3."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: ObjectKey
    size: int = Field(ge=0)


class PdfRef(ObjectRef):
    """The compiled PDF."""

    sha256: Sha256Hex
    pages: int = Field(ge=1)


class CompileErrorInfo(BaseModel):
    """Why a compile did not succeed, with the first error TeX reported."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: ErrorCode
    message: str = Field(max_length=2000, examples=["Undefined control sequence."])
    file: str | None = Field(default=None, max_length=1024, examples=["main.tex"])
    line: int | None = Field(default=None, ge=0, examples=[4])
    excerpt: str = Field(
        default="",
        max_length=8000,
        description="A few log lines around the error, control sequences stripped.",
    )


class CompileCompleted(Envelope):
    """latex.compile.completed v1: a compile ended, whatever its outcome."""

    schema_name: Literal["latex.compile.completed"] = Field(
        default="latex.compile.completed", description="Schema name of this message."
    )
    schema_version: Literal[1] = Field(default=1, description="Major version of the schema.")
    document_id: UUID
    revision: int = Field(ge=1)
    outcome: Outcome
    pdf: PdfRef | None = Field(default=None, description="Present exactly when succeeded.")
    error: CompileErrorInfo | None = Field(
        default=None, description="Present exactly when not succeeded."
    )
    log: ObjectRef | None = Field(default=None, description="The full compile log, if any.")
    duration_ms: int = Field(ge=0)
    engine: Engine
    engine_version: str = Field(max_length=200, examples=["pdfTeX 3.141592653-2.6-1.40.24"])
    cache_hit: bool = False

    @model_validator(mode="after")
    def _outcome_matches_payload(self) -> Self:
        if self.outcome is Outcome.SUCCEEDED:
            if self.pdf is None:
                raise ValueError("a succeeded result needs 'pdf'")
            if self.error is not None:
                raise ValueError("a succeeded result has no 'error'")
        elif self.error is None:
            raise ValueError(f"a {self.outcome.value} result needs 'error'")
        return self
