"""Many jobs at once, set-based: what bulk operations are tested and benchmarked on.

One statement each, so 100,000 jobs take seconds to make: finished jobs of every
final status and age (retention), and dead letters (bulk retry).
"""

from __future__ import annotations

from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[Any]

#: Job n's final status is FINISHED_STATUSES[n % 4].
FINISHED_STATUSES = ("succeeded", "failed", "cancelled", "aborted")


def finished_days_ago(n: int) -> int:
    """Days ago job n finished: every fifth 1 day, the next 40 days, the rest 10 days."""
    return 1 if n % 5 == 0 else 40 if n % 5 == 1 else 10


#: :func:`finished_days_ago` in SQL.
_AGE_DAYS = "CASE WHEN n %% 5 = 0 THEN 1 WHEN n %% 5 = 1 THEN 40 ELSE 10 END"


async def insert_finished_jobs(conn: Conn, total: int, *, queue: str = "bulk") -> None:
    """``total`` finished jobs with their events and pgjobs rows, in one statement.

    Job n has status ``FINISHED_STATUSES[n % 4]`` and finished ``finished_days_ago(n)``
    days ago; like real jobs, ids grow with creation time (job n was created 45 days
    ago plus n seconds).
    """
    await conn.execute(
        f"""
        WITH numbered AS (
            SELECT n, (ARRAY['succeeded', 'failed', 'cancelled', 'aborted'])[1 + n %% 4] AS status,
                   now() - make_interval(days => {_AGE_DAYS}) AS finished_at,
                   now() - interval '45 days' + make_interval(secs => n) AS created_at
              FROM generate_series(1, %(total)s) AS n
        ), jobs AS (
            INSERT INTO procrastinate_jobs (queue_name, task_name, status, args, attempts)
            SELECT %(queue)s, 'agents.run', status::procrastinate_job_status, '{{}}', 1
              FROM numbered ORDER BY n
            RETURNING id
        ), paired AS (
            SELECT jobs.id, numbered.status, numbered.finished_at, numbered.created_at
              FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM jobs) jobs
              JOIN numbered USING (n)
        ), events AS (
            INSERT INTO procrastinate_events (job_id, type, at)
            SELECT id, 'deferred', created_at FROM paired
            UNION ALL
            SELECT id, status::procrastinate_job_event_type, finished_at FROM paired
        ), attempts AS (
            INSERT INTO pgjobs_attempts (job_id, attempt, started_at, finished_at, outcome)
            SELECT id, 1, finished_at, finished_at,
                   CASE WHEN status = 'cancelled' THEN 'aborted' ELSE status END
              FROM paired
        )
        INSERT INTO pgjobs_jobs (job_id, created_at, updated_at)
        SELECT id, created_at, finished_at FROM paired
        """,
        {"total": total, "queue": queue},
    )


async def insert_dead_letters(conn: Conn, total: int, *, queue: str = "tools") -> list[int]:
    """``total`` ``tools.run`` jobs failed for good, through 'doing' to 'failed' as a worker
    takes them (procrastinate's triggers record their 'started' and 'failed' events)."""
    cursor = await conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, status, args)"
        " SELECT %s, 'tools.run', 'todo', '{\"tool\": \"t\"}' FROM generate_series(1, %s)"
        " RETURNING id",
        [queue, total],
    )
    ids = [int(job_id) for (job_id,) in await cursor.fetchall()]
    await conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = ANY(%s)", [ids])
    await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'failed', attempts = attempts + 1"
        " WHERE id = ANY(%s)",
        [ids],
    )
    return ids
