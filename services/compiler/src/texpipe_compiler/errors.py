"""The compiler's errors.

A broken document is a result, not an exception (outcomes travel in ``CompileCompleted``).
Exceptions here stand for what the compiler refuses (:class:`SourceRejectedError`) or for a
broken dependency (:class:`InfrastructureError`: S3, the sandbox itself): an outage, for which
the consumer holds the message and pauses until the dependency answers again.
"""


class CompilerError(Exception):
    """Base class of the compiler's errors."""


class SourceRejectedError(CompilerError):
    """The source bundle breaks a rule; the message says which (outcome ``rejected``)."""


class InfrastructureError(CompilerError):
    """A dependency the compiler needs failed (an outage: the request is held, not spent)."""


class SandboxError(InfrastructureError):
    """The sandbox could not be started or its driver broke the protocol."""


class EngineUnavailableError(CompilerError):
    """The requested engine is not installed or not enabled on this compiler."""
