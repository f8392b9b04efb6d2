"""Repository for idempotency keys: what a key names, and purging expired ones.

Keys are claimed by ``job_defer_many`` (db/job_store.py) in the very statement
that creates the job or batch they name; this module reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import dict_row

from db.queries import query
from db.types import Connection, Row


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """An Idempotency-Key as a create statement claims it."""

    #: Whose key it is: keys of different callers never collide.
    scope: str
    key: str
    #: sha256 of the request; a replay must carry the same one.
    request_fingerprint: str
    #: How long the key names what it created; after that it may be reused.
    ttl_seconds: float


async def idempotency_key_get(conn: Connection, scope: str, key: str) -> Row | None:
    """``{job_id, batch_id, request_fingerprint, created_at, expires_at, expired}`` or None."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("idempotency_key_get"), {"scope": scope, "key": key})
        return await cursor.fetchone()


async def idempotency_key_purge(conn: Connection, *, limit: int) -> int:
    """Delete up to ``limit`` expired keys; returns how many were deleted."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("idempotency_key_purge"), {"limit": limit})
        row = await cursor.fetchone()
    assert row is not None
    return int(row["purged"])
