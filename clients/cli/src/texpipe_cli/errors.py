"""What can go wrong, each with the exit code it ends the program with.

Exit codes are the CLI's contract with scripts (documented in ``--help`` and the README):
0 success, 1 the LaTeX did not compile, 2 a usage error or a request the api refused (4xx),
3 service trouble (the api unreachable, 5xx, a job dead, an answer we cannot read), 4 a newer
revision of the document took over (the job ended stale or superseded).
"""

from collections.abc import Mapping
from enum import IntEnum


class Exit(IntEnum):
    """The process exit codes."""

    OK = 0
    LATEX_FAILURE = 1
    USAGE = 2
    SERVICE = 3
    SUPERSEDED = 4  # a newer revision took over: its job makes the PDF
    INTERRUPTED = 130  # the shell's convention for Ctrl-C


class CliError(Exception):
    """Ends the command with a message on stderr and ``exit_code``."""

    exit_code: Exit = Exit.SERVICE


class UsageError(CliError):
    """The arguments, the configuration or the local files are not usable."""

    exit_code = Exit.USAGE


class ServiceError(CliError):
    """The api could not be reached, failed, or answered something we cannot read."""

    exit_code = Exit.SERVICE


class ApiProblemError(CliError):
    """The api answered with an ``application/problem+json`` error."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra: Mapping[str, object] = extra or {}
        # A 4xx is the request's fault (wrong id, token or files): the user must change it.
        self.exit_code = Exit.USAGE if 400 <= status < 500 else Exit.SERVICE
        text = f"{title}: {detail}" if detail and detail != title else title
        super().__init__(f"{text} ({code}, HTTP {status})")
