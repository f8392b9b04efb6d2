"""Repository for idempotency keys: what a key names, and purging expired ones.

Keys are claimed by ``job_defer_many`` (db/job_store.py) in the very statement
that creates the job or batch they name; this module reads them back.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from db.rows import fetch_one, fetch_value
from db.types import Connection


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


@dataclass(frozen=True, slots=True)
class IdempotencyKeyRow:
    """A claimed key: what it names (a job or a batch) and the request that claimed it."""

    job_id: int | None
    batch_id: uuid.UUID | None
    request_fingerprint: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    expired: bool


async def idempotency_key_get(conn: Connection, scope: str, key: str) -> IdempotencyKeyRow | None:
    return await fetch_one(
        conn, "idempotency_key_get", IdempotencyKeyRow, {"scope": scope, "key": key}
    )


async def idempotency_key_purge(conn: Connection, *, limit: int) -> int:
    """Delete up to ``limit`` expired keys; returns how many were deleted."""
    return int(await fetch_value(conn, "idempotency_key_purge", {"limit": limit}))
