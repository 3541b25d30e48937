"""Version 1 of the texpipe messages."""

from texpipe_contracts.v1.commands import (
    CompileCancelRequested,
    CompileRequested,
    SourceBundleRef,
)
from texpipe_contracts.v1.common import Engine
from texpipe_contracts.v1.events import (
    MAX_DIAGNOSTICS,
    CompileCompleted,
    CompileErrorInfo,
    Diagnostic,
    Diagnostics,
    ObjectRef,
    Outcome,
    PdfApplied,
    PdfRef,
    Severity,
)

__all__ = [
    "MAX_DIAGNOSTICS",
    "CompileCancelRequested",
    "CompileCompleted",
    "CompileErrorInfo",
    "CompileRequested",
    "Diagnostic",
    "Diagnostics",
    "Engine",
    "ObjectRef",
    "Outcome",
    "PdfApplied",
    "PdfRef",
    "Severity",
    "SourceBundleRef",
]
