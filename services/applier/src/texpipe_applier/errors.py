"""The applier's own errors (the api's answers are Verdicts, not exceptions)."""


class ApplierError(Exception):
    """Base class of the applier's errors."""


class NotConfirmedError(ApplierError):
    """The broker did not confirm a publish (unroutable or nacked); the original stays unacked."""


class DlqMessageNotFoundError(ApplierError):
    """``dlq replay ID`` found no dead letter with that id."""
