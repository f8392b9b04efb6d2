"""Repository for periodic schedules: what procrastinate's deferrer recorded per tick."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.rows import dict_row

from db.queries import query
from db.types import Connection, Row


async def periodic_defer_list_latest(conn: Connection, task_names: Sequence[str]) -> list[Row]:
    """The latest deferred tick of each periodic task among ``task_names``.

    Rows: ``task_name, periodic_id, defer_timestamp`` (Unix seconds of the tick),
    ``job_id`` (None once the job is deleted) and ``status`` (of that job).
    """
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("periodic_defer_list_latest"), {"task_names": list(task_names)})
        return await cursor.fetchall()
