"""The /internal API the applier calls (service token; see service_auth_middleware)."""

import structlog
from aiohttp import web
from texpipe_contracts.internal_api import MarkDead
from texpipe_contracts.v1 import CompileCompleted, CompileStarted

from texpipe_api import keys, ping, results
from texpipe_api.schemas import PingRequest
from texpipe_api.views.common import json_model, parse_body, parse_optional_body, path_uuid


async def post_result(request: web.Request) -> web.Response:
    """POST /internal/v1/jobs/{job_id}/result: the stale-checked apply (DESIGN.md)."""
    job_id = path_uuid(request, "job_id")
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        result = await parse_body(request, CompileCompleted)
        with structlog.contextvars.bound_contextvars(message_id=str(result.message_id)):
            answer = await results.apply_result(
                request.config_dict[keys.PG_POOL], request.config_dict[keys.S3], job_id, result
            )
    return json_model(answer)


async def post_started(request: web.Request) -> web.Response:
    """POST /internal/v1/jobs/{job_id}/started: a compiler began the job (progress only)."""
    job_id = path_uuid(request, "job_id")
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        notice = await parse_body(request, CompileStarted)
        with structlog.contextvars.bound_contextvars(message_id=str(notice.message_id)):
            answer = await results.mark_started(request.config_dict[keys.PG_POOL], job_id, notice)
    return json_model(answer)


async def post_dead(request: web.Request) -> web.Response:
    """POST /internal/v1/jobs/{job_id}/dead: the pipeline gave up on the job."""
    job_id = path_uuid(request, "job_id")
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        body = await parse_body(request, MarkDead)
        answer = await results.mark_dead(request.config_dict[keys.PG_POOL], job_id, body)
    return json_model(answer)


async def post_ping(request: web.Request) -> web.Response:
    """POST /internal/v1/ping: the built-in document through the whole pipeline, timed."""
    body = await parse_optional_body(request, PingRequest)
    answer = await ping.run_ping(
        request.config_dict[keys.DOCUMENT_DEPS], request.config_dict[keys.WAITERS], body.timeout_s
    )
    return json_model(answer)
