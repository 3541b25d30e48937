"""What the applier does with each answer of the api's result endpoint (pure).

This is DESIGN.md's answer table, in code: 200 and a stale 409 are final (ack); a 409 saying
the result cannot be accepted *yet*, or a 500, mean "try this message again later" (a retry
queue, bounded); a refused connection, a timeout, 502/503/504 or a throttle (408/429) mean the
api itself is down or overloaded, which says nothing about the message: the applier holds it
and pauses until the api is ready again (no retry spent); 404, 401, 403, 422 (and any other
4xx) mean the message or the setup is wrong, and retrying cannot help, so the message is
dead-lettered at once.
"""

from dataclasses import dataclass
from enum import StrEnum

from texpipe_contracts.errors import ErrorCode


class Action(StrEnum):
    """What happens to the message."""

    ACK = "ack"
    RETRY = "retry"
    WAIT = "wait"
    """The api is down: hold the message and pause until it is ready (an outage)."""
    DEAD_LETTER = "dead_letter"


class Answer(StrEnum):
    """The api's answer, named for logs and the ``answer`` label of the metrics."""

    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    STALE = "stale"
    RESULT_INVALID = "result_invalid"
    CONFLICT_OTHER = "conflict_other"
    SERVER_ERROR = "server_error"
    THROTTLED = "throttled"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNPROCESSABLE = "unprocessable"
    REFUSED = "refused"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A classified answer: what to do, and a reason an operator can read."""

    action: Action
    answer: Answer
    reason: str
    code: str

    @property
    def final(self) -> bool:
        """True when the message is done with (acked without retry)."""
        return self.action is Action.ACK


_API_DOWN = frozenset({502, 503, 504})
"""A proxy without an api behind it, or the api without PostgreSQL or S3."""

_PERMANENT = {
    401: (
        Answer.UNAUTHORIZED,
        "the api refused the service token (401): check TEXPIPE_SERVICE_TOKEN",
    ),
    403: (Answer.FORBIDDEN, "the api forbade the call (403): check TEXPIPE_SERVICE_TOKEN"),
    404: (Answer.NOT_FOUND, "the api knows no such job (404)"),
    422: (Answer.UNPROCESSABLE, "the api could not accept the result body (422)"),
}


def classify(status: int, code: str | None, *, detail: str = "", body_status: str = "") -> Verdict:
    """Classify an HTTP answer: ``status``, the problem ``code`` if any, the 200 body's status."""
    suffix = f": {detail}" if detail else ""
    if 200 <= status < 300:
        answer = Answer.ALREADY_APPLIED if body_status == "already_applied" else Answer.APPLIED
        return Verdict(Action.ACK, answer, f"the api answered {status} {answer.value}", "")
    if status == 409:
        if code == ErrorCode.LATEX_JOB_STALE:
            return Verdict(Action.ACK, Answer.STALE, f"the document moved on{suffix}", code)
        if code == ErrorCode.LATEX_JOB_RESULT_INVALID:
            reason = f"the api cannot accept the result yet{suffix}"
            return Verdict(Action.RETRY, Answer.RESULT_INVALID, reason, code)
        # A conflict code this applier does not know: most likely a newer api. Retrying is
        # bounded, and the message ends in the dead-letter queue if it never clears.
        reason = f"the api answered 409 with unknown code {code!r}{suffix}"
        return Verdict(Action.RETRY, Answer.CONFLICT_OTHER, reason, code or "")
    if status in _API_DOWN:
        reason = f"the api answered {status}{suffix}"
        return Verdict(Action.WAIT, Answer.SERVER_ERROR, reason, code or f"HTTP_{status}")
    if status >= 500:
        reason = f"the api answered {status}{suffix}"
        return Verdict(Action.RETRY, Answer.SERVER_ERROR, reason, code or f"HTTP_{status}")
    if status in {408, 429}:
        reason = f"the api asked to come back later ({status}){suffix}"
        return Verdict(Action.WAIT, Answer.THROTTLED, reason, code or f"HTTP_{status}")
    if status in _PERMANENT:
        answer, reason = _PERMANENT[status]
        return Verdict(Action.DEAD_LETTER, answer, reason + suffix, code or f"HTTP_{status}")
    if 400 <= status < 500:
        reason = f"the api refused the result ({status}){suffix}"
        return Verdict(Action.DEAD_LETTER, Answer.REFUSED, reason, code or f"HTTP_{status}")
    # 1xx/3xx: the applier is pointed at something that is not the api.
    reason = f"unexpected HTTP status {status} from the api: check TEXPIPE_API_URL{suffix}"
    return Verdict(Action.DEAD_LETTER, Answer.UNEXPECTED, reason, f"HTTP_{status}")


def timed_out(timeout_s: float) -> Verdict:
    """The api did not answer in time."""
    reason = f"the api did not answer within {timeout_s:g} s"
    return Verdict(Action.WAIT, Answer.TIMEOUT, reason, "API_TIMEOUT")


def unreachable(error: str) -> Verdict:
    """The api could not be reached (connection refused, reset, DNS)."""
    return Verdict(
        Action.WAIT,
        Answer.UNREACHABLE,
        f"the api is unreachable: {error}",
        ErrorCode.API_UNAVAILABLE.value,
    )


def classify_started(status: int, code: str | None, *, detail: str = "") -> Verdict:
    """Classify an answer of the api's ``/started`` endpoint (a progress signal).

    200 (recorded, or nothing to do: the job is final or already started) and 404 (no such
    job: it may have been pruned) are final. Every other answer is classified as a result's
    (wait out an outage, retry a 500 later); where a result would be dead-lettered, the
    caller drops the notice instead (see ``delivery``).
    """
    if status == 404:
        suffix = f": {detail}" if detail else ""
        return Verdict(Action.ACK, Answer.NOT_FOUND, f"the api knows no such job{suffix}", "")
    if 200 <= status < 300:
        return Verdict(Action.ACK, Answer.APPLIED, f"the api answered {status}", "")
    return classify(status, code, detail=detail)


def classify_mark_dead(
    status: int, *, detail: str = "", body_status: str = "", job_state: str = ""
) -> Verdict:
    """Classify an answer of the api's ``/dead`` endpoint.

    Unlike a result, a "job is dead" notice is never dead-lettered itself (it already comes
    from the dead-letter path): it waits (held, the consumer paused) until the api answers,
    then is acked. 404 (no such job) and other 4xx about the notice are final; 401/403 are a
    setup error an operator fixes, so the notice waits for the fix rather than being dropped.
    """
    suffix = f": {detail}" if detail else ""
    if 200 <= status < 300:
        if body_status == "already_applied":
            # The api marks only queued jobs dead: a job that got its result keeps it.
            reason = f"the job had already ended ({job_state or 'unknown state'}); unchanged"
            return Verdict(Action.ACK, Answer.ALREADY_APPLIED, reason, "")
        return Verdict(Action.ACK, Answer.APPLIED, "the api marked the job dead", "")
    if status in {401, 403, 408, 429} or status >= 500:
        answer = _PERMANENT[status][0] if status in _PERMANENT else Answer.SERVER_ERROR
        return Verdict(Action.WAIT, answer, f"the api answered {status}{suffix}", f"HTTP_{status}")
    if status == 404:
        return Verdict(
            Action.ACK, Answer.NOT_FOUND, f"the api knows no such job{suffix}", "HTTP_404"
        )
    return Verdict(
        Action.ACK,
        Answer.REFUSED,
        f"the api refused the notice ({status}){suffix}",
        f"HTTP_{status}",
    )
