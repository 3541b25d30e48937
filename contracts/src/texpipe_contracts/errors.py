"""Error codes that cross a service boundary (messages, problem+json answers)."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable, machine-readable error codes. Never rename one; add new ones."""

    # Results refused by the api's internal result endpoint (see DESIGN.md, the stale check).
    LATEX_JOB_STALE = "LATEX_JOB_STALE"
    LATEX_JOB_RESULT_INVALID = "LATEX_JOB_RESULT_INVALID"
    # Compile outcomes.
    LATEX_ERROR = "LATEX_ERROR"
    MISSING_FILE = "MISSING_FILE"
    TIMEOUT = "TIMEOUT"
    OUTPUT_TOO_LARGE = "OUTPUT_TOO_LARGE"
    NO_OUTPUT = "NO_OUTPUT"
    SOURCE_REJECTED = "SOURCE_REJECTED"
    RESOURCE_LIMIT = "RESOURCE_LIMIT"
    """The job reached a limit of its control group (memory, processes)."""
    INTERNAL_ERROR = "INTERNAL_ERROR"
    """The compiler failed on this request in a way it did not foresee (logged loudly)."""
    # Delivery: why a message was dead-lettered.
    DEAD_LETTERED = "DEAD_LETTERED"
    MESSAGE_MALFORMED = "MESSAGE_MALFORMED"
    MESSAGE_UNKNOWN_VERSION = "MESSAGE_UNKNOWN_VERSION"
    API_UNAVAILABLE = "API_UNAVAILABLE"
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    COMPILER_DIED = "COMPILER_DIED"
