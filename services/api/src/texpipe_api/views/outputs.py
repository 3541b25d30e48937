"""GET /v1/jobs/{job_id}/outputs[/{name}]: a job's output files, for its tenant only."""

from urllib.parse import quote

import structlog
from aiohttp import web

from texpipe_api import jobs, keys
from texpipe_api.errors import NoOutputFileError, s3_read_errors
from texpipe_api.middlewares import tenant_of
from texpipe_api.views.common import json_model, path_uuid
from texpipe_api.views.public import stream_attachment


async def list_outputs(request: web.Request) -> web.Response:
    """GET /v1/jobs/{job_id}/outputs"""
    job_id = path_uuid(request, "job_id")
    listed = await jobs.list_outputs(request.config_dict[keys.PG_POOL], tenant_of(request), job_id)
    return json_model(listed)


def attachment(name: str) -> str:
    """A Content-Disposition naming ``name`` safely: an ASCII fallback (anything else, quotes
    and backslashes become ``_``) and the exact name percent-encoded (RFC 6266 / 8187)."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def get_output(request: web.Request) -> web.StreamResponse:
    """GET /v1/jobs/{job_id}/outputs/{name}: the file's bytes as an attachment, streamed
    from S3 under a CSP that forbids everything (a PDF or log holds the document's text)."""
    job_id = path_uuid(request, "job_id")
    name = request.match_info["name"]
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        listed = await jobs.output_file(
            request.config_dict[keys.PG_POOL], tenant_of(request), job_id, name
        )
        with s3_read_errors(
            f"{name!r}",
            too_large=NoOutputFileError(f"the stored {name!r} is not the file the job made"),
            missing=NoOutputFileError(f"{name!r} is no longer stored"),
        ):
            return await stream_attachment(
                request,
                listed.key,
                max_bytes=listed.size,
                content_type=listed.content_type,
                disposition=attachment(listed.name),
            )
