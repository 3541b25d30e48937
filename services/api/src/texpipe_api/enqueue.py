"""The one way into the queue: every compile request (``POST .../compile`` with or without an
``Idempotency-Key``, ``"compile": true`` on create and update, the enqueue ping) is answered by
:func:`enqueue`, one SQL statement with one reuse rule (``db/enqueue_queries.py``).

Requests of the public compile endpoint are batched (``batching.py``: many requests, one
statement and one commit); create, update and the ping call it inside the transaction that
records their revision.
"""

from collections.abc import Sequence

import asyncpg

from texpipe_api import metrics
from texpipe_api.db import enqueue_queries
from texpipe_api.db.conn import Conn
from texpipe_api.db.enqueue_queries import CompileRequest

__all__ = ["CompileRequest", "enqueue"]


async def enqueue(
    conn: Conn, requests: Sequence[CompileRequest], *, timeout_ms: int
) -> list[asyncpg.Record]:
    """One answer row per request whose document is its tenant's (see
    :func:`enqueue_queries.enqueue` for the columns), in the caller's transaction."""
    rows = await enqueue_queries.enqueue(conn, requests, timeout_ms=timeout_ms)
    if rows:
        metrics.JOBS_SUBMITTED.inc(sum(row["outbox_id"] is not None for row in rows))
        metrics.JOBS_SUPERSEDED.inc(rows[0]["superseded"])
    return rows
