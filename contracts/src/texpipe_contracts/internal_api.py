"""The api's internal endpoints that the applier calls (bodies of requests and answers).

``POST /internal/v1/jobs/{job_id}/result`` takes a :class:`~texpipe_contracts.v1.CompileCompleted`
and answers :class:`ResultAnswer` (200) or a :class:`Problem` (409 with ``LATEX_JOB_STALE`` or
``LATEX_JOB_RESULT_INVALID``, 401, 404, 422). ``POST /internal/v1/jobs/{job_id}/dead`` takes
:class:`MarkDead`. ``POST /internal/v1/jobs/{job_id}/started`` takes a
:class:`~texpipe_contracts.v1.CompileStarted` and answers :class:`StartedAnswer` (200, whether
or not it changed anything) or 404. All need ``Authorization: Bearer <service token>``.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RESULT_PATH = "/internal/v1/jobs/{job_id}/result"
DEAD_PATH = "/internal/v1/jobs/{job_id}/dead"
STARTED_PATH = "/internal/v1/jobs/{job_id}/started"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class ResultAnswer(BaseModel):
    """The api took the result (or had already taken it)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["applied", "already_applied"]
    job_state: str = Field(description="The job's state after the call.")


class StartedAnswer(BaseModel):
    """The api took a compile-started notice: ``recorded`` the first time for a queued job,
    ``ignored`` when there was nothing to do (already started, or the job is final)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["recorded", "ignored"]
    job_state: str = Field(description="The job's state after the call.")


class MarkDead(BaseModel):
    """The pipeline gave up on a job: its message is in a dead-letter queue."""

    model_config = ConfigDict(extra="ignore")

    reason: str = Field(max_length=2000)
    attempts: int = Field(ge=0)
    queue: str = Field(max_length=255, description="The dead-letter queue holding the message.")


class Problem(BaseModel):
    """RFC 9457 problem details, with texpipe's stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    code: str
