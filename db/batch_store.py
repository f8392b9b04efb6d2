"""Repository for batches: their status and their jobs.

A batch is created by ``job_store.job_defer_many(..., batch_id=...)``, in the
statement that creates its jobs; this module reads batches back.
"""

from __future__ import annotations

import uuid

from psycopg.rows import dict_row

from db.queries import query
from db.types import Connection, Row


async def batch_get(conn: Connection, batch_id: uuid.UUID) -> Row | None:
    """The batch with its job counts by status and its progress, or None."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("batch_get"), {"batch_id": batch_id})
        return await cursor.fetchone()


async def batch_job_ids(conn: Connection, batch_id: uuid.UUID) -> list[int]:
    """The ids of the batch's jobs still in the database, in the order they were submitted."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("batch_job_ids"), {"batch_id": batch_id})
        return [int(row["id"]) for row in await cursor.fetchall()]
