"""The api's errors: each one knows its HTTP status and its stable problem ``code``.

``middlewares.py`` turns any of these into an ``application/problem+json`` answer; views and use
cases only raise. Codes are part of the public contract: never rename one, add new ones.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError
from texpipe_contracts.errors import ErrorCode
from texpipe_servicekit.s3 import ObjectTooLargeError, is_missing


class ApiError(Exception):
    """Base class: an answer other than success, with a status, a code and a detail."""

    status = 500
    code = "INTERNAL_ERROR"
    title = "Internal error"

    def __init__(self, detail: str = "", **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra


class UnauthorizedError(ApiError):
    """No credentials, or credentials we do not know."""

    status = 401
    code = "UNAUTHORIZED"
    title = "Missing or invalid bearer token"


class NotFoundError(ApiError):
    """The resource does not exist, or belongs to another tenant (we do not say which)."""

    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class InvalidRequestError(ApiError):
    """The body or a parameter does not have the expected shape."""

    status = 422
    code = "INVALID_REQUEST"
    title = "Invalid request"


class PathRuleViolationError(InvalidRequestError):
    """A project path broke one of the path rules (the detail names it)."""

    code = "PATH_RULE_VIOLATION"
    title = "A file path breaks a path rule"


class MainFileMissingError(InvalidRequestError):
    """The main file is not among the project's files."""

    code = "MAIN_FILE_MISSING"
    title = "The main file is not in the file set"


class MainFileAmbiguousError(InvalidRequestError):
    """No main file was named, there is no main.tex, and the project has several candidates
    (or none); ``candidates`` lists them."""

    code = "MAIN_FILE_AMBIGUOUS"
    title = "Cannot tell which file is the main file"


class TooManyFilesError(ApiError):
    """More files than the configured limit."""

    status = 413
    code = "TOO_MANY_FILES"
    title = "Too many files"


class SourceTooLargeError(ApiError):
    """The decoded sources exceed the configured total size."""

    status = 413
    code = "SOURCE_TOO_LARGE"
    title = "The sources are too large"


class BodyTooLargeError(ApiError):
    """The request body exceeds the configured size."""

    status = 413
    code = "BODY_TOO_LARGE"
    title = "Request body too large"


class RevisionMismatchError(ApiError):
    """``If-Match`` names a revision that is not the current one."""

    status = 412
    code = "REVISION_MISMATCH"
    title = "The document is not at the revision named by If-Match"


class NoPdfError(NotFoundError):
    """The document has no applied PDF yet."""

    code = "NO_PDF"
    title = "The document has no PDF yet"


class NoLogError(NotFoundError):
    """The job has no compile log (not compiled yet, or rejected before compiling)."""

    code = "NO_LOG"
    title = "The job has no log"


class LogTooLargeError(ApiError):
    """The log is larger than this api serves."""

    status = 413
    code = "LOG_TOO_LARGE"
    title = "The log is too large to serve"


class PdfTooLargeError(ApiError):
    """The PDF is larger than this api streams (the presigned URL still works)."""

    status = 413
    code = "PDF_TOO_LARGE"
    title = "The PDF is too large to stream; use the presigned URL"


class JobStaleError(ApiError):
    """The result's revision is no longer the document's current one (DESIGN.md)."""

    status = 409
    code = ErrorCode.LATEX_JOB_STALE.value
    title = "The document moved on; the result was not applied"


class ResultInvalidError(ApiError):
    """The result cannot be accepted yet: its PDF is not visible as stated, or the job's state."""

    status = 409
    code = ErrorCode.LATEX_JOB_RESULT_INVALID.value
    title = "The result cannot be accepted yet"


class DependencyUnavailableError(ApiError):
    """PostgreSQL or S3 could not be reached while serving the request."""

    status = 503
    code = "DEPENDENCY_UNAVAILABLE"
    title = "A dependency is unavailable"


class PingFailedError(ApiError):
    """The enqueue ping's job ended in a final state other than ``applied``."""

    status = 502
    code = "PING_FAILED"
    title = "The ping's compile job ended without its PDF applied"


class PingTimeoutError(ApiError):
    """A stage of the pipeline did not answer before the ping's deadline."""

    status = 504
    code = "PING_TIMEOUT"
    title = "A stage of the pipeline did not answer in time"


class NoSynctexError(NotFoundError):
    """The document's applied PDF has no SyncTeX file (an engine that wrote none, over the
    compiler's cap, compiled before texpipe kept them, or no longer stored)."""

    code = "NO_SYNCTEX"
    title = "The applied PDF has no SyncTeX data"


class SynctexNoMatchError(NotFoundError):
    """SyncTeX knows no project source at that point, or no box for that line."""

    code = "SYNCTEX_NO_MATCH"
    title = "SyncTeX found nothing there"


class PageOutOfRangeError(InvalidRequestError):
    """The page is not one of the applied PDF's pages."""

    code = "PAGE_OUT_OF_RANGE"
    title = "The PDF has no such page"


class SynctexFailedError(ApiError):
    """The ``synctex`` tool failed or overran its limits on this document's file."""

    status = 500
    code = "SYNCTEX_FAILED"
    title = "SyncTeX could not answer"


class NoOutputFileError(NotFoundError):
    """The job has no output file of that name."""

    code = "NO_OUTPUT_FILE"
    title = "The job has no such output file"


class JobFinalError(ApiError):
    """A cancel of a job that is already final (``job_state`` says which state)."""

    status = 409
    code = "JOB_FINAL"
    title = "The job is already final"


class TooManyStreamsError(ApiError):
    """The tenant has as many event streams open (on this api process) as it may."""

    status = 429
    code = "TOO_MANY_STREAMS"
    title = "Too many event streams open for this tenant"


@contextmanager
def s3_read_errors(what: str, *, too_large: ApiError, missing: ApiError) -> Iterator[None]:
    """Reading ``what`` ("the PDF") from S3: an object over the reader's ``max_bytes`` raises
    ``too_large``, one no longer stored ``missing``, any other refusal or no answer
    :class:`DependencyUnavailableError` (503: an outage, never the caller's fault)."""
    try:
        yield
    except ObjectTooLargeError as exc:
        raise too_large from exc
    except ClientError as exc:
        if is_missing(exc):
            raise missing from exc
        raise DependencyUnavailableError(f"S3 refused {what}: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise DependencyUnavailableError(f"S3 did not answer: {type(exc).__name__}") from exc
