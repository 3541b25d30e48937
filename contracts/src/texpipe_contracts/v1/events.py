"""Events: facts that happened, in the past tense."""

from datetime import datetime
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


class SynctexRef(ObjectRef):
    """The compile's SyncTeX file (``.synctex.gz``, gzip as the engine wrote it).

    Names inside it are paths of the compile's sandbox, written by TeX from what the document
    asked for: never trusted. ``project_root`` says where the project's root folder was when
    TeX ran, so that a consumer maps a name to a project path (and refuses any other).
    """

    project_root: str = Field(
        max_length=1024,
        pattern=r"^/[^\x00-\x1f]*$",
        description="Absolute path of the project's root folder inside the compile's sandbox.",
        examples=["/work/project"],
    )


MAX_OUTPUT_FILES = 16
"""How many output files a result lists at most."""


class OutputFile(ObjectRef):
    """One file a compile produced, offered for download (PDF, log, SyncTeX, .bbl)."""

    name: str = Field(
        min_length=1,
        max_length=300,
        pattern=r"^[^/\\\x00-\x1f\x7f]+$",
        description="The file's name as the author knows it: the main file's job name and the "
        "file's extension (the .bbl keeps the name arXiv expects beside the main file). At most "
        "300 characters: a 255-byte main file name with '.synctex.gz' in place of '.tex'.",
        examples=["main.pdf", "main.bbl"],
    )
    content_type: str = Field(max_length=100, examples=["application/pdf"])


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


MAX_DIAGNOSTICS = 200
"""How many diagnostics a result carries at most (an editor's log panel, not the whole log)."""


class Severity(StrEnum):
    """What kind of entry a diagnostic is."""

    ERROR = "error"
    WARNING = "warning"
    BADBOX = "badbox"


class Diagnostic(BaseModel):
    """One entry of a compile's log panel: an error, a warning or an over/underfull box.

    ``file`` is as the log names it, without a leading ``./``: relative to the folder TeX ran
    in for the project's files, absolute for TeX Live's own (a package that raised the error).
    Text comes from the log, so it is the document's: control sequences are stripped.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    severity: Severity
    file: str | None = Field(default=None, max_length=1024, examples=["chapters/intro.tex"])
    line: int | None = Field(
        default=None,
        ge=0,
        description="The line TeX names (the first of a bad box's 'lines N--M').",
        examples=[12],
    )
    message: str = Field(
        max_length=500, examples=["Reference `fig:plot' on page 3 undefined on input line 12."]
    )


class Diagnostics(BaseModel):
    """A compile's errors, warnings and bad boxes, bounded in number.

    Past ``MAX_DIAGNOSTICS`` the errors are kept first, then the warnings, then the bad boxes;
    ``items`` stay in log order and ``omitted`` counts what was left out.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    items: list[Diagnostic] = Field(default_factory=list, max_length=MAX_DIAGNOSTICS)
    omitted: int = Field(default=0, ge=0, description="Entries of the log beyond the bound.")


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
    diagnostics: Diagnostics | None = Field(
        default=None,
        description="The log's errors, warnings and bad boxes; absent when no log was read "
        "(a timeout, a rejected source) or the cache entry hit did not keep them. Added in "
        "v1 as an optional field: consumers that do not know it ignore it.",
    )
    synctex: SynctexRef | None = Field(
        default=None,
        description="The SyncTeX file of a succeeded compile; absent for other outcomes, for "
        "an engine that wrote none, and past the compiler's size cap. Added in v1 (optional).",
    )
    outputs: list[OutputFile] | None = Field(
        default=None,
        max_length=MAX_OUTPUT_FILES,
        description="Every file the compile offers for download (PDF, log, SyncTeX, .bbl), "
        "names unique; absent from older producers. Added in v1 (optional).",
    )

    @model_validator(mode="after")
    def _outcome_matches_payload(self) -> Self:
        if self.outcome is Outcome.SUCCEEDED:
            if self.pdf is None:
                raise ValueError("a succeeded result needs 'pdf'")
            if self.error is not None:
                raise ValueError("a succeeded result has no 'error'")
        elif self.error is None:
            raise ValueError(f"a {self.outcome.value} result needs 'error'")
        if self.outputs is not None and len({o.name for o in self.outputs}) != len(self.outputs):
            raise ValueError("output file names must be unique")
        return self


class CompileStarted(Envelope):
    """latex.compile.started v1: a compiler began compiling a job in its sandbox.

    A progress signal, best effort: published once per sandboxed run (never for a cache hit),
    it may be lost or arrive after the job's result; the api takes it only while the job is
    queued (the document's event stream then shows the job ``compiling``).
    """

    schema_name: Literal["latex.compile.started"] = Field(
        default="latex.compile.started", description="Schema name of this message."
    )
    schema_version: Literal[1] = Field(default=1, description="Major version of the schema.")
    document_id: UUID
    revision: int = Field(ge=1)
    started_at: datetime = Field(description="When the sandboxed compile began (UTC).")
    compiler: str = Field(
        max_length=255, description="The compiler instance running it.", examples=["compiler-1"]
    )


class PdfApplied(Envelope):
    """document.pdf_applied v1: a document's PDF changed (a compile result was applied).

    Published once per applied PDF, from the api's outbox in the transaction that applied it
    (never for a stale, failed, timed-out, rejected or cancelled result). Delivery is at least
    once: a consumer recognises a repeat by ``message_id``. The PDF is the object at
    ``pdf.key`` in texpipe's bucket; platform services that cannot read the bucket fetch it
    with ``GET /v1/documents/{document_id}/pdf`` (the tenant's token).
    """

    schema_name: Literal["document.pdf_applied"] = Field(
        default="document.pdf_applied", description="Schema name of this message."
    )
    schema_version: Literal[1] = Field(default=1, description="Major version of the schema.")
    document_id: UUID
    tenant_id: UUID = Field(description="The tenant that owns the document.")
    revision: int = Field(ge=1, description="The revision whose PDF is now the document's.")
    pdf: PdfRef = Field(description="The applied PDF: S3 key, sha256, size in bytes, pages.")
    applied_at: datetime = Field(description="When the api applied it (UTC).")
