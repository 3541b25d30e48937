"""The applier's own errors (the api's answers are Verdicts, not exceptions)."""


class ApplierError(Exception):
    """Base class of the applier's errors."""


class DlqMessageNotFoundError(ApplierError):
    """``dlq replay ID`` found no dead letter with that id."""
