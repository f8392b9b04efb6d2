"""Repository for batches: their status and their jobs.

A batch is created by ``job_store.job_defer_many(..., batch_id=...)``, in the
statement that creates its jobs; this module reads batches back.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from db.queries import query
from db.rows import fetch_one
from db.types import Connection


@dataclass(frozen=True, slots=True)
class BatchRow:
    id: uuid.UUID
    created_at: datetime.datetime
    created_by: str | None
    size: int
    #: status -> jobs of the batch in it (statuses without a job are absent).
    counts: dict[str, int]
    #: status -> sum of the progress percent of the batch's jobs in it (no progress: 0).
    progress: dict[str, float]


async def batch_get(conn: Connection, batch_id: uuid.UUID) -> BatchRow | None:
    return await fetch_one(conn, "batch_get", BatchRow, {"batch_id": batch_id})


async def batch_job_ids(conn: Connection, batch_id: uuid.UUID) -> list[int]:
    """The ids of the batch's jobs still in the database, in the order they were submitted."""
    async with conn.cursor() as cursor:
        await cursor.execute(query("batch_job_ids"), {"batch_id": batch_id})
        return [int(job_id) for (job_id,) in await cursor.fetchall()]
