"""Idempotency keys: a create request sent again with the same key returns what the first made.

A client that lost the answer to ``POST /jobs`` (timeout, dropped connection)
sends the same request again with the same ``Idempotency-Key``; it must get the
job the first request created, never a second job. The rules:

- The key is claimed by the statement that creates the job (or batch), so the
  job and its key commit together: there is no window in which a job exists
  without its key or a key without its job.
- A second request with the key finds it claimed, and gets the original job back
  (a *replay*) when its body is the same; with another body it gets 409
  (:class:`IdempotencyKeyReused`). Bodies are compared by fingerprint: sha256
  of the endpoint and the canonical JSON of the parsed body.
- Concurrent requests with one key queue on the key's primary key in Postgres:
  one creates, the others wait for it to commit and then replay it.
- A key names what it created for ``ttl_seconds``; an expired key is released and
  claimed again by the statement that reuses it, so reuse is race-free too.
- Keys belong to a scope (the caller): two callers' keys never collide.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from db import idempotency_store, job_store
from db.idempotency_store import KeyClaim
from db.types import Connection
from jobs.errors import AlreadyEnqueued, IdempotencyKeyInUse, IdempotencyKeyReused

T = TypeVar("T")

#: Create attempts before giving up on a key whose holder keeps vanishing (see create_once).
CREATE_ATTEMPTS = 3
#: Expired keys deleted per purge statement: small enough never to hold locks for long.
PURGE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Replay:
    """What the request that first claimed a key created: a job or a batch."""

    job_id: int | None
    batch_id: uuid.UUID | None


def fingerprint(endpoint: str, body: Any) -> str:
    """sha256 of the endpoint and the canonical JSON of a parsed body.

    The caller passes the body without its defaulted fields, so a field added
    later with a default does not make old requests look different.
    """
    canonical = json.dumps([endpoint, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(*, scope: str, key: str, endpoint: str, body: Any, ttl_seconds: float) -> KeyClaim:
    """The claim a create statement makes for ``key``."""
    return KeyClaim(
        scope=scope,
        key=key,
        request_fingerprint=fingerprint(endpoint, body),
        ttl_seconds=ttl_seconds,
    )


def claim_for(
    key: str | None,
    *,
    scope: str | None,
    endpoint: str,
    request: BaseModel,
    ttl_seconds: float | None,
) -> KeyClaim | None:
    """The claim a create request with an Idempotency-Key makes (None: the request has none).

    ``scope`` is the caller (its keys never collide with another's); ``request``
    is fingerprinted without its defaulted fields.
    """
    if key is None:
        return None
    if ttl_seconds is None:
        raise ValueError("an idempotency key needs its time to live")
    return claim(
        scope=scope or "",
        key=key,
        endpoint=endpoint,
        body=request.model_dump(mode="json", exclude_defaults=True),
        ttl_seconds=ttl_seconds,
    )


async def find_replay(conn: Connection, key: KeyClaim) -> Replay | None:
    """What a live key names, or None when the key is unused or expired.

    Raises :class:`IdempotencyKeyReused` when the key was claimed by a request
    with another fingerprint.
    """
    row = await idempotency_store.idempotency_key_get(conn, key.scope, key.key)
    if row is None or row.expired:
        return None
    if row.request_fingerprint != key.request_fingerprint:
        raise IdempotencyKeyReused(key.key)
    return Replay(job_id=row.job_id, batch_id=row.batch_id)


async def create_once(
    conn: Connection, key: KeyClaim | None, create: Callable[[], Awaitable[T]]
) -> T | Replay:
    """Run ``create`` (one statement that claims ``key``) or replay the request that holds it.

    ``conn`` must be in autocommit mode, as the pool's connections are: a create
    that loses the key aborts its own statement, and the lookup that follows on
    the same connection must see the winner's committed key.

    A conflict on a queueing lock is checked against the key too: the replay of
    a request for a unique job conflicts on the job's lock before it reaches the
    key, and is still a replay. A key that vanished between the conflict and the
    lookup (it expired, or its job was deleted, at that instant) is claimed again.
    """
    if key is not None and not conn.autocommit:
        raise ValueError("an idempotent create needs an autocommit connection (the pool's)")
    for _ in range(CREATE_ATTEMPTS):
        try:
            return await create()
        except (job_store.IdempotencyKeyTaken, AlreadyEnqueued) as conflict:
            if key is None:
                raise
            replay = await find_replay(conn, key)
            if replay is not None:
                return replay
            if isinstance(conflict, AlreadyEnqueued):
                raise
    assert key is not None, "without a key, create() either returns or raises"
    raise IdempotencyKeyInUse(key.key)


async def purge_expired(conn: Connection, *, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired keys (call until it returns less than ``limit``).

    Expired keys are harmless (they are released when reused) but take room;
    called from a periodic maintenance job, this keeps the table at about
    (keys per second x TTL) rows.
    """
    return await idempotency_store.idempotency_key_purge(conn, limit=limit)
