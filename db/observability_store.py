"""Read-only queries behind live events, metrics, health and the dashboard.

Functions take a connection and never commit (style rule 6). None of the
statements locks a row, so watching the queue cannot slow it down; the
planner choices that keep them cheap on a large table are commented in
``db/sql/observability.sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

from psycopg.rows import dict_row

from db.queries import query
from db.types import Connection, Row


async def _rows(
    conn: Connection, sql: LiteralString, params: dict[str, Any] | None = None
) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()


async def event_max_id(conn: Connection) -> int:
    (row,) = await _rows(conn, query("event_max_id"))
    return int(row["id"])


async def event_list_after(
    conn: Connection, after_id: int, *, queue: str | None, task: str | None, limit: int
) -> list[Row]:
    return await _rows(
        conn,
        query("event_list_after"),
        {"after_id": after_id, "queue": queue, "task": task, "limit": limit},
    )


async def event_list_for_job_after(
    conn: Connection, job_id: int, after_id: int, *, limit: int
) -> list[Row]:
    return await _rows(
        conn,
        query("event_list_for_job_after"),
        {"job_id": job_id, "after_id": after_id, "limit": limit},
    )


async def progress_list_running(
    conn: Connection,
    *,
    job_id: int | None = None,
    queue: str | None = None,
    task: str | None = None,
    limit: int,
) -> list[Row]:
    return await _rows(
        conn,
        query("progress_list_running"),
        {"job_id": job_id, "queue": queue, "task": task, "limit": limit},
    )


async def job_route_get(conn: Connection, job_id: int) -> Row | None:
    rows = await _rows(conn, query("job_route_get"), {"job_id": job_id})
    return rows[0] if rows else None


async def job_count_active_by_queue(conn: Connection) -> list[Row]:
    """``[{queue, status, count}]`` for todo and doing jobs."""
    return await _rows(conn, query("job_count_active_by_queue"))


async def job_count_by_queue_and_status(conn: Connection) -> list[Row]:
    """``[{queue, status, count}]`` over the whole table (a full scan: cache the answer)."""
    return await _rows(conn, query("job_count_by_queue_and_status"))


async def queue_lag_list(conn: Connection) -> list[Row]:
    """``[{queue, runnable, oldest_seconds}]`` for every queue with a runnable job."""
    return await _rows(conn, query("queue_lag_list"))


async def worker_list_with_jobs(conn: Connection) -> list[Row]:
    """``[{id, last_heartbeat, heartbeat_age_seconds, jobs: [{id, task, queue, ...}]}]``."""
    return await _rows(conn, query("worker_list_with_jobs"))


async def event_list_tail(conn: Connection, after_id: int, up_to_id: int, limit: int) -> list[Row]:
    """``[{id, job_id, type, at, queue, task, rescued}]`` in (after_id, up_to_id], by id."""
    return await _rows(
        conn, query("event_list_tail"), {"after_id": after_id, "up_to_id": up_to_id, "limit": limit}
    )


async def event_list_history(conn: Connection, job_ids: Sequence[int], before_id: int) -> list[Row]:
    """``[{job_id, type, at}]``: every event of these jobs before ``before_id``, oldest first."""
    return await _rows(
        conn, query("event_list_history"), {"job_ids": list(job_ids), "before_id": before_id}
    )


async def job_finished_by_minute(conn: Connection, minutes: int) -> list[Row]:
    """``[{minute, outcome, count}]`` over the last ``minutes`` minutes."""
    return await _rows(conn, query("job_finished_by_minute"), {"minutes": minutes})


async def job_page_scan(
    conn: Connection,
    *,
    before_id: int | None,
    scan_limit: int,
    limit: int,
    statuses: Sequence[str] | None,
    queue: str | None,
    task: str | None,
    text: str | None,
    active_only: bool,
) -> list[Row]:
    """Up to ``limit`` matching jobs among the ``scan_limit`` newest below ``before_id``.

    ``active_only`` walks the todo/doing partial index instead of the primary key
    (only valid when ``statuses`` is within todo/doing).
    """
    return await _rows(
        conn,
        query("job_page_scan_active") if active_only else query("job_page_scan"),
        {
            "before_id": before_id,
            "scan_limit": scan_limit,
            "limit": limit,
            "statuses": list(statuses) if statuses else None,
            "queue": queue,
            "task": task,
            "text": text,
        },
    )


async def job_scan_floor(
    conn: Connection, *, before_id: int | None, scan_limit: int, active_only: bool
) -> tuple[int | None, int]:
    """Lowest id and size of the window :func:`job_page_scan` examined ((None, 0): empty)."""
    (row,) = await _rows(
        conn,
        query("job_scan_floor_active") if active_only else query("job_scan_floor"),
        {"before_id": before_id, "scan_limit": scan_limit},
    )
    return (None if row["id"] is None else int(row["id"])), int(row["scanned"])
