"""The api's internal endpoints, seen from the applier: one call in, one Verdict out."""

import json
from collections.abc import Awaitable, Callable
from uuid import UUID

import aiohttp
import structlog
from texpipe_contracts.internal_api import DEAD_PATH, RESULT_PATH, STARTED_PATH, MarkDead

from texpipe_applier import answers
from texpipe_applier.answers import Verdict

MAX_ANSWER_BYTES = 64 * 1024
"""Answers are small JSON documents; never buffer more than this of one."""

log = structlog.get_logger(__name__)


class ApiClient:
    """Calls ``/internal/v1/jobs/{id}/result``, ``/started`` and ``/dead`` over one reused
    session."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, token: str, total_timeout_s: float
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {token}"}
        self._timeout_s = total_timeout_s

    async def post_result(self, job_id: UUID, body: bytes, message_id: str | None) -> Verdict:
        """Deliver a result (the message body as received) and classify the answer."""
        return await self._post(
            RESULT_PATH.format(job_id=job_id), body, message_id, self._classify_result
        )

    async def post_started(self, job_id: UUID, body: bytes, message_id: str | None) -> Verdict:
        """Deliver a compile-started notice (the message body as received), classified."""
        return await self._post(
            STARTED_PATH.format(job_id=job_id), body, message_id, self._classify_started
        )

    async def mark_dead(self, job_id: UUID, notice: MarkDead) -> Verdict:
        """Tell the api that the job's message is in a dead-letter queue."""
        body = notice.model_dump_json().encode()
        return await self._post(
            DEAD_PATH.format(job_id=job_id), body, None, self._classify_mark_dead
        )

    async def health(self) -> None:
        """Raise unless the api's ``/health`` answers 2xx."""
        async with self._session.get(f"{self._base}/health") as response:
            response.raise_for_status()

    async def ready(self) -> None:
        """Raise unless the api's ``/ready`` answers 2xx (it and its PostgreSQL, S3 and broker
        answer): the probe that ends the applier's pause."""
        async with self._session.get(f"{self._base}/ready") as response:
            response.raise_for_status()

    async def _post(
        self,
        path: str,
        body: bytes,
        message_id: str | None,
        classify: Callable[[aiohttp.ClientResponse], Awaitable[Verdict]],
    ) -> Verdict:
        headers = {**self._auth, "Content-Type": "application/json"}
        if message_id:
            headers["X-Texpipe-Message-Id"] = message_id
        try:
            async with self._session.post(
                f"{self._base}{path}", data=body, headers=headers
            ) as response:
                return await classify(response)
        except TimeoutError:
            return answers.timed_out(self._timeout_s)
        except aiohttp.ClientError as exc:
            # Refused, reset, DNS, a broken answer: the api is unwell, try again later.
            return answers.unreachable(f"{type(exc).__name__}: {exc}"[:300])

    async def _classify_result(self, response: aiohttp.ClientResponse) -> Verdict:
        data = await _read_json(response)
        return answers.classify(
            response.status,
            _str(data.get("code")),
            detail=_str(data.get("detail")) or "",
            body_status=_str(data.get("status")) or "",
        )

    async def _classify_started(self, response: aiohttp.ClientResponse) -> Verdict:
        data = await _read_json(response)
        return answers.classify_started(
            response.status, _str(data.get("code")), detail=_str(data.get("detail")) or ""
        )

    async def _classify_mark_dead(self, response: aiohttp.ClientResponse) -> Verdict:
        data = await _read_json(response)
        return answers.classify_mark_dead(
            response.status,
            detail=_str(data.get("detail")) or "",
            body_status=_str(data.get("status")) or "",
            job_state=_str(data.get("job_state")) or "",
        )


async def _read_json(response: aiohttp.ClientResponse) -> dict[str, object]:
    """The answer's JSON object, or {} when it has none (a proxy's HTML page, say)."""
    raw = await response.content.read(MAX_ANSWER_BYTES)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _str(value: object) -> str | None:
    return value[:500] if isinstance(value, str) else None
