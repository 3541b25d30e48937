"""Commands: a request that one consumer handles."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from texpipe_contracts.paths import ProjectPath
from texpipe_contracts.v1.common import Engine, Envelope, ObjectKey, Sha256Hex

MAX_TIMEOUT_MS = 25 * 60 * 1000
"""The broker's consumer ack timeout is 30 min; every compile deadline stays below it."""


class SourceBundleRef(BaseModel):
    """Where a revision's source bundle is: a deterministic tar named by its sha256."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: ObjectKey = Field(examples=["sources/9f86d08.tar"])
    sha256: Sha256Hex
    size: int = Field(ge=0, description="Bundle size in bytes.")


class CompileRequested(Envelope):
    """latex.compile.requested v1: compile one revision of one document."""

    schema_name: Literal["latex.compile.requested"] = Field(
        default="latex.compile.requested", description="Schema name of this message."
    )
    schema_version: Literal[1] = Field(default=1, description="Major version of the schema.")
    document_id: UUID
    revision: int = Field(ge=1, description="The document revision this compile is for.")
    source: SourceBundleRef
    main_file: ProjectPath = Field(default="main.tex", examples=["main.tex"])
    engine: Engine = Field(examples=[Engine.PDFLATEX])
    source_date_epoch: int | None = Field(
        default=None,
        ge=0,
        le=253402300799,
        description="When the revision was saved (seconds since 1970, UTC): TeX's \\today and "
        "the PDF's dates. Absent: the compiler's fixed default. The same value always gives "
        "the same bytes.",
    )
    timeout_ms: int = Field(
        default=120_000,
        ge=1,
        le=MAX_TIMEOUT_MS,
        description="Wall-clock limit for the whole compile (all passes).",
    )


class CompileCancelRequested(Envelope):
    """latex.compile.cancel_requested v1: stop this job's compile wherever it runs.

    Published by the api when a job is cancelled (``POST /v1/jobs/{id}/cancel``) to a routing
    key every compiler process receives on a queue of its own: a compiler running the job
    kills its sandbox, and one that takes the job's request later skips it. The job is already
    final (``cancelled``) when this is sent; a compiler that never hears of it compiles the
    request for nothing, and the api refuses that result.
    """

    schema_name: Literal["latex.compile.cancel_requested"] = Field(
        default="latex.compile.cancel_requested", description="Schema name of this message."
    )
    schema_version: Literal[1] = Field(default=1, description="Major version of the schema.")
    document_id: UUID
    revision: int = Field(ge=1, description="The revision the cancelled job compiles.")
