"""Bodies of the public HTTP API (requests and answers), as pydantic models.

The OpenAPI document is generated from these, so what the views parse and what the document
says cannot drift apart.
"""

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.jobs import JobState
from texpipe_contracts.v1 import Engine


class EngineSource(StrEnum):
    """What chose a revision's engine: the request, a '% !TEX program' comment, a latexmkrc
    (read as text, never run), or the default (pdflatex)."""

    REQUEST = "request"
    MAGIC_COMMENT = "magic_comment"
    LATEXMKRC = "latexmkrc"
    DEFAULT = "default"


class Base64File(BaseModel):
    """A binary file (an image, a font), base64-encoded."""

    model_config = ConfigDict(extra="forbid")

    base64: str = Field(description="Standard base64 of the file's bytes.")


class DocumentBody(BaseModel):
    """A full file set: creates a document, or a new revision of one."""

    model_config = ConfigDict(extra="forbid")

    files: dict[str, str | Base64File] = Field(
        description="Project path -> UTF-8 text, or {'base64': ...} for binary files.",
        examples=[{"main.tex": "\\documentclass{article}\\begin{document}Hi\\end{document}"}],
    )
    main: str | None = Field(
        default=None,
        description="The file to compile. Absent: main.tex, else the only .tex file with an"
        " uncommented \\documentclass (or the one '% !TEX root' comments name); several"
        " candidates answer 422 MAIN_FILE_AMBIGUOUS listing them.",
    )
    engine: Engine | None = Field(
        default=None,
        description="Absent: the main file's '% !TEX program = NAME' comment, else the engine"
        " a latexmkrc beside it or at the root sets ($pdf_mode; read, never run), else pdflatex.",
    )
    compile: bool = Field(default=False, description="Also enqueue a compile of this revision.")


class PdfOut(BaseModel):
    """The PDF currently applied to a document."""

    revision: int
    sha256: str
    size: int
    pages: int
    applied_at: datetime
    job_id: UUID | None


class JobErrorOut(BaseModel):
    """Why a job did not produce a PDF."""

    code: str = Field(examples=[ErrorCode.LATEX_ERROR.value])
    message: str
    file: str | None = None
    line: int | None = None
    excerpt: str = ""


class DiagnosticOut(BaseModel):
    """One entry of the compile's log panel (text from the log: the document's)."""

    severity: Literal["error", "warning", "badbox"]
    file: str | None = Field(
        default=None,
        description="As TeX names it, relative to the folder it ran in ('chapters/intro.tex'),"
        " or a TeX Live path for a package's own file.",
    )
    line: int | None = None
    message: str = Field(examples=["Reference `fig:plot' on page 3 undefined on input line 12."])


class DiagnosticsOut(BaseModel):
    """A compile's errors, warnings and bad boxes: at most 200, errors kept first when the
    log held more (``omitted`` counts the rest)."""

    items: list[DiagnosticOut]
    omitted: int = 0


class OutputOut(BaseModel):
    """A file the job's compile produced, downloadable by the job's tenant at ``url``."""

    name: str = Field(examples=["main.pdf", "main.log", "main.synctex.gz", "main.bbl"])
    size: int = Field(description="Bytes.")
    content_type: str = Field(examples=["application/pdf"])
    url: str = Field(
        description="Path of the download (same token), relative to the api.",
        examples=["/v1/jobs/0b6c.../outputs/main.pdf"],
    )


class OutputsOut(BaseModel):
    """The job's output files: PDF, log, SyncTeX (.synctex.gz) and .bbl, those it has."""

    job_id: UUID
    outputs: list[OutputOut]


class JobOut(BaseModel):
    """A compile job."""

    id: UUID
    document_id: UUID
    revision: int
    state: JobState
    engine: Engine
    engine_source: EngineSource = EngineSource.REQUEST
    created_at: datetime
    started_at: datetime | None = Field(
        default=None,
        description="When a compiler began the compile, as the api heard it (best effort:"
        " absent for a cache hit, or when the notice was lost).",
    )
    finished_at: datetime | None = None
    error: JobErrorOut | None = None
    log_available: bool = False
    duration_ms: int | None = None
    engine_version: str | None = None
    cache_hit: bool | None = None
    dead_reason: str | None = None
    diagnostics: DiagnosticsOut | None = Field(
        default=None,
        description="Absent until the job has a result, and when its compile read no log.",
    )
    outputs: list[OutputOut] = Field(
        default_factory=list, description="The files the compile produced (see /outputs)."
    )


class DocumentOut(BaseModel):
    """A document: its current revision, applied PDF and latest job."""

    id: UUID
    revision: int
    engine: Engine
    engine_source: EngineSource = EngineSource.REQUEST
    main: str
    created_at: datetime
    updated_at: datetime
    pdf: PdfOut | None = None
    latest_job: JobOut | None = None


class DocumentCreated(BaseModel):
    """Answer to a create or update."""

    id: UUID
    revision: int
    engine: Engine
    engine_source: EngineSource = Field(description="What chose the engine.")
    main: str = Field(description="The main file (named in the request or found).")
    job_id: UUID | None = Field(default=None, description="Set when 'compile' was true.")


class JobAccepted(BaseModel):
    """Answer to a compile request: the job to poll."""

    job_id: UUID
    state: JobState


class SynctexSourceOut(BaseModel):
    """Where a point of the applied PDF comes from (SyncTeX, PDF -> source)."""

    revision: int = Field(description="The revision of the applied PDF the answer is about.")
    file: str = Field(description="A project path, as in the revision's files.")
    line: int = Field(ge=1, description="1-based line.")
    column: int | None = Field(
        default=None,
        ge=1,
        description="1-based column; null when the engine did not record one (pdfTeX, XeTeX "
        "and LuaTeX record none).",
    )


class SynctexBoxOut(BaseModel):
    """A box of the PDF, in PDF points (1/72 in) from the page's top-left corner: ``h`` is
    its left edge and ``v`` its baseline; it spans ``h``..``h+width`` and
    ``v-height``..``v``."""

    page: int = Field(ge=1)
    h: float
    v: float
    width: float
    height: float


class SynctexPdfOut(BaseModel):
    """Where a source line is in the applied PDF (SyncTeX, source -> PDF): its boxes, the
    closest first (at most 100)."""

    revision: int
    file: str
    line: int
    boxes: list[SynctexBoxOut]


MAX_PING_TIMEOUT_S = 120.0


class PingRequest(BaseModel):
    """Body of POST /internal/v1/ping (optional: an empty body takes the defaults)."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=MAX_PING_TIMEOUT_S,
        description="How long to wait for the whole pipeline before answering 504.",
    )


class PingStages(BaseModel):
    """When each stage was reached, in milliseconds since the ping request arrived."""

    accepted_ms: int = Field(description="The job and its outbox row were committed.")
    published_ms: int | None = Field(
        default=None,
        description="The relay recorded the broker's confirm of the compile request (never"
        " after applied_ms; null if that record was still missing a second after the apply).",
    )
    compile_ms: int = Field(description="How long the compiler took (its own measure).")
    applied_ms: int = Field(description="The result was applied: the job became 'applied'.")


class PingAnswer(BaseModel):
    """The ping's document went through the whole pipeline."""

    status: Literal["ok"] = "ok"
    job_id: UUID
    stages: PingStages
    total_ms: int = Field(description="From the request's arrival to this answer.")


class JobEventError(BaseModel):
    """The first error of a job that did not produce a PDF (text from the log)."""

    code: str
    message: str | None = None
    file: str | None = None
    line: int | None = None


class JobEventPdf(BaseModel):
    """The PDF an ``applied`` job made the document's."""

    sha256: str
    size: int
    pages: int


class JobEvent(BaseModel):
    """``event: job`` of GET /v1/documents/{id}/events: a job of the document reached
    ``state`` (``queued`` when it was made; ``compiling`` when a compiler began it, a
    progress moment the job's own state does not have)."""

    job_id: UUID
    revision: int
    state: JobState | Literal["compiling"]
    at: datetime = Field(description="When the api recorded the change.")
    error: JobEventError | None = Field(
        default=None, description="failed, timed_out, rejected: the first error."
    )
    pdf: JobEventPdf | None = Field(default=None, description="applied: the new PDF.")
    dead_reason: str | None = None


class RevisionEvent(BaseModel):
    """``event: revision`` of GET /v1/documents/{id}/events: a new revision was saved."""

    revision: int
    main: str
    engine: Engine
    at: datetime = Field(description="When the api recorded it.")
