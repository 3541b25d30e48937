"""Version 1 of the texpipe messages."""

from texpipe_contracts.v1.commands import CompileRequested, SourceBundleRef
from texpipe_contracts.v1.common import Engine
from texpipe_contracts.v1.events import (
    MAX_DIAGNOSTICS,
    MAX_OUTPUT_FILES,
    CompileCompleted,
    CompileErrorInfo,
    Diagnostic,
    Diagnostics,
    ObjectRef,
    Outcome,
    OutputFile,
    PdfRef,
    Severity,
    SynctexRef,
)

__all__ = [
    "MAX_DIAGNOSTICS",
    "MAX_OUTPUT_FILES",
    "CompileCompleted",
    "CompileErrorInfo",
    "CompileRequested",
    "Diagnostic",
    "Diagnostics",
    "Engine",
    "ObjectRef",
    "Outcome",
    "OutputFile",
    "PdfRef",
    "Severity",
    "SourceBundleRef",
    "SynctexRef",
]
