"""Cross-cutting request handling: request ids and logs, metrics, auth, and every error ->
``application/problem+json`` with a stable ``code``, in this one place."""

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg
import botocore.exceptions
import structlog
from aiohttp import web
from pydantic import ValidationError
from texpipe_contracts.internal_api import PROBLEM_CONTENT_TYPE

from texpipe_api import keys, metrics
from texpipe_api.auth import check_service_token
from texpipe_api.errors import (
    ApiError,
    BodyTooLargeError,
    DependencyUnavailableError,
    InvalidRequestError,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger(__name__)

_UNAVAILABLE = (
    OSError,  # connection refused or reset, before or during a query
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,  # a connection the server just closed, used before it noticed
    botocore.exceptions.BotoCoreError,
)
TENANT = web.RequestKey("tenant_id", UUID)
_HTTP_CODES = {
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    413: ("BODY_TOO_LARGE", "Request body too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
}


def problem(status: int, code: str, title: str, detail: str = "", **extra: Any) -> web.Response:
    """An RFC 9457 problem answer."""
    body = {"type": "about:blank", "title": title, "status": status, "code": code}
    body["detail"] = detail or title
    body.update(extra)
    return web.json_response(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def _from_api_error(exc: ApiError) -> web.Response:
    return problem(exc.status, exc.code, exc.title, exc.detail, **exc.extra)


def _from_validation(exc: ValidationError) -> web.Response:
    # No input values in the answer or the logs: they may be large or secret.
    errors = [
        {"loc": [str(part) for part in err["loc"]], "msg": err["msg"]}
        for err in exc.errors(include_input=False, include_url=False)[:20]
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    detail = f"{'.'.join(first['loc']) or 'body'}: {first['msg']}"
    return problem(422, InvalidRequestError.code, InvalidRequestError.title, detail, errors=errors)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into problem+json; log the unexpected ones with their traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        if exc.status >= 500:
            log.warning("request_failed", code=exc.code, detail=exc.detail)
        return _from_api_error(exc)
    except ValidationError as exc:
        return _from_validation(exc)
    except _UNAVAILABLE as exc:
        # PostgreSQL or S3 went away (a restart, a failover): the caller should retry.
        log.warning("dependency_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
        response = _from_api_error(DependencyUnavailableError(type(exc).__name__))
        response.headers["Retry-After"] = "1"
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects are answers, not errors
        if exc.status == 413:
            return _from_api_error(BodyTooLargeError(f"{exc.text} (max_body_bytes)"))
        code, title = _HTTP_CODES.get(exc.status, ("HTTP_ERROR", exc.reason))
        return problem(exc.status, code, title, exc.reason)
    except Exception:
        log.exception("unhandled_error", path=request.path)
        return problem(500, "INTERNAL_ERROR", "Internal error", "see the api's logs")


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id to the logs, echo it, and count and time the request."""
    request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
            metrics.HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
    response.headers["X-Request-Id"] = request_id
    return response


@web.middleware
async def tenant_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/v1: the bearer token's tenant, or 401."""
    resolver = request.config_dict[keys.TENANTS]
    request[TENANT] = await resolver.tenant_for(request.headers.get("Authorization"))
    return await handler(request)


@web.middleware
async def service_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/internal: only the service token."""
    expected = request.config_dict[keys.SETTINGS].service_token.get_secret_value()
    check_service_token(request.headers.get("Authorization"), expected)
    return await handler(request)


def tenant_of(request: web.Request) -> UUID:
    """The tenant that ``tenant_auth_middleware`` authenticated."""
    return request[TENANT]
