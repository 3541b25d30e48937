"""Every SQL statement on tenants, tokens, documents and revisions.

Each function takes the connection first: the caller (a use case) owns the transaction. Jobs
are in ``job_queries.py``, the outbox relay and retention in ``outbox_queries.py``.
"""

from uuid import UUID

from asyncpg import Record

from texpipe_api.db.conn import Conn

# --- tenants and tokens ---------------------------------------------------------------------


async def upsert_tenant(conn: Conn, *, tenant_id: UUID, name: str) -> UUID:
    """The id of the tenant called ``name``, created if new."""
    value: UUID = await conn.fetchval(
        "INSERT INTO tenants (id, name) VALUES ($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        tenant_id,
        name,
    )
    return value


async def insert_token(conn: Conn, *, token_sha256: str, tenant_id: UUID) -> None:
    """Store a token's hash for a tenant."""
    await conn.execute(
        "INSERT INTO api_tokens (token_sha256, tenant_id) VALUES ($1, $2)", token_sha256, tenant_id
    )


async def tenant_for_token(conn: Conn, token_sha256: str) -> UUID | None:
    """The tenant owning the (unrevoked) token whose hash is given."""
    value: UUID | None = await conn.fetchval(
        "SELECT tenant_id FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
        token_sha256,
    )
    return value


# --- documents and revisions ----------------------------------------------------------------


async def insert_document(conn: Conn, *, document_id: UUID, tenant_id: UUID) -> None:
    """A new document at revision 1 (its revision row is inserted next, same transaction)."""
    await conn.execute(
        "INSERT INTO documents (id, tenant_id, current_revision) VALUES ($1, $2, 1)",
        document_id,
        tenant_id,
    )


async def lock_current_revision(conn: Conn, *, document_id: UUID, tenant_id: UUID) -> int | None:
    """The document's current revision, with its row locked until the transaction ends."""
    value: int | None = await conn.fetchval(
        "SELECT current_revision FROM documents WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
        document_id,
        tenant_id,
    )
    return value


async def bump_revision(conn: Conn, document_id: UUID) -> int:
    """Move the (locked) document to its next revision; returns it."""
    value: int = await conn.fetchval(
        "UPDATE documents SET current_revision = current_revision + 1, updated_at = now()"
        " WHERE id = $1 RETURNING current_revision",
        document_id,
    )
    return value


async def insert_revision(
    conn: Conn,
    *,
    document_id: UUID,
    revision: int,
    main_file: str,
    engine: str,
    engine_source: str,
    source_key: str,
    source_sha256: str,
    source_size: int,
    file_count: int,
    files: list[str],
) -> None:
    """Record one revision's source bundle and its project paths (sorted)."""
    await conn.execute(
        "INSERT INTO revisions (document_id, revision, main_file, engine, engine_source,"
        " source_key, source_sha256, source_size, file_count, files)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        document_id,
        revision,
        main_file,
        engine,
        engine_source,
        source_key,
        source_sha256,
        source_size,
        file_count,
        files,
    )


async def get_document(conn: Conn, *, document_id: UUID, tenant_id: UUID) -> Record | None:
    """A tenant's document with its current revision's engine and main file."""
    return await conn.fetchrow(
        "SELECT d.*, r.engine, r.engine_source, r.main_file FROM documents d JOIN revisions r"
        " ON r.document_id = d.id AND r.revision = d.current_revision"
        " WHERE d.id = $1 AND d.tenant_id = $2",
        document_id,
        tenant_id,
    )
