"""Version 1 of the texpipe messages."""

from texpipe_contracts.v1.commands import CompileRequested, SourceBundleRef
from texpipe_contracts.v1.common import Engine
from texpipe_contracts.v1.events import (
    CompileCompleted,
    CompileErrorInfo,
    ObjectRef,
    Outcome,
    PdfRef,
)

__all__ = [
    "CompileCompleted",
    "CompileErrorInfo",
    "CompileRequested",
    "Engine",
    "ObjectRef",
    "Outcome",
    "PdfRef",
    "SourceBundleRef",
]
