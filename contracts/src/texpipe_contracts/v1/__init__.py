"""Version 1 of the texpipe messages."""

from texpipe_contracts.v1.commands import (
    CompileCancelRequested,
    CompileRequested,
    SourceBundleRef,
)
from texpipe_contracts.v1.common import Engine
from texpipe_contracts.v1.events import (
    MAX_DIAGNOSTICS,
    MAX_OUTPUT_FILES,
    CompileCompleted,
    CompileErrorInfo,
    CompileStarted,
    Diagnostic,
    Diagnostics,
    ObjectRef,
    Outcome,
    OutputFile,
    PdfApplied,
    PdfRef,
    Severity,
    SynctexRef,
)

__all__ = [
    "MAX_DIAGNOSTICS",
    "MAX_OUTPUT_FILES",
    "CompileCancelRequested",
    "CompileCompleted",
    "CompileErrorInfo",
    "CompileRequested",
    "CompileStarted",
    "Diagnostic",
    "Diagnostics",
    "Engine",
    "ObjectRef",
    "Outcome",
    "OutputFile",
    "PdfApplied",
    "PdfRef",
    "Severity",
    "SourceBundleRef",
    "SynctexRef",
]
