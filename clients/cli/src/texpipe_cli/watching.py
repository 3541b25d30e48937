"""Follow a document's event stream, reconnecting with ``Last-Event-ID`` so nothing is lost.

A dropped connection, a 5xx or a 429 (too many streams open) is retried with backoff, for
as long as the user watches; other 4xx answers (an unknown document, a bad token) end it.
"""

import asyncio
from collections.abc import Callable

from texpipe_cli.client import ApiClient
from texpipe_cli.errors import ApiProblemError, ServiceError
from texpipe_cli.models import DocumentEvent

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)


async def watch_events(
    api: ApiClient,
    document_id: str,
    on_event: Callable[[DocumentEvent], None],
    on_note: Callable[[str], None],
    *,
    after: int | None = None,
) -> None:
    """Call ``on_event`` for each event of the document (after ``after``), until cancelled."""
    last = after
    failures = 0
    while True:
        try:
            async for event in api.document_events(document_id, last_event_id=last):
                failures = 0
                last = event.id
                on_event(event)
            why = "the api ended the stream"
        except ApiProblemError as exc:
            if exc.status < 500 and exc.status != 429:
                raise
            why = str(exc)
        except ServiceError as exc:
            why = str(exc)
        delay = RETRY_DELAYS_S[min(failures, len(RETRY_DELAYS_S) - 1)]
        failures += 1
        where = f" after event {last}" if last is not None else ""
        on_note(f"{why}; reconnecting{where} in {delay:g} s")
        await asyncio.sleep(delay)
