"""SQL of the per-document event log (written by triggers, migration 0004)."""

from datetime import timedelta
from uuid import UUID

from asyncpg import Record

from texpipe_api.db.conn import Conn

DOCUMENT_EVENTS_CHANNEL = "texpipe_document_events"
"""NOTIFY channel, payload a document id: the document has new events (streams read them)."""


async def events_after(conn: Conn, document_id: UUID, after: int, limit: int) -> list[Record]:
    """Up to ``limit`` events of the document numbered after ``after``, in order
    (seq, type, data as JSON text, created_at)."""
    return await conn.fetch(
        "SELECT seq, type, data::text AS data, created_at FROM document_events"
        " WHERE document_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        document_id,
        after,
        limit,
    )


async def prune_events(conn: Conn, *, older_than: timedelta, limit: int) -> int:
    """Delete up to ``limit`` events recorded before ``older_than`` ago; returns how many."""
    status: str = await conn.execute(
        "DELETE FROM document_events WHERE (document_id, seq) IN (SELECT document_id, seq"
        " FROM document_events WHERE created_at < now() - $1::interval LIMIT $2)",
        older_than,
        limit,
    )
    return int(status.split()[-1])
