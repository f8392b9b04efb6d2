"""Retention against a real Postgres: per-status ages, cascades, short batches, 100,000 jobs."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
import pytest

from harness.bulk import FINISHED_STATUSES, finished_days_ago, insert_finished_jobs
from jobs.maintenance import retention
from jobs.maintenance import tasks as maintenance
from jobs.settings import Settings
from jobs.worker.app import build_app
from tests.factories import make_job
from tests.integration.helpers import count, run_worker_until_idle

Conn = psycopg.AsyncConnection[Any]

DAY = datetime.timedelta(days=1)
POLICY = retention.RetentionPolicy(
    ages={"succeeded": 7 * DAY, "failed": 30 * DAY, "cancelled": 7 * DAY, "aborted": 7 * DAY},
    maintenance_age=datetime.timedelta(hours=1),
    maintenance_queue=maintenance.MAINTENANCE_QUEUE,
    batch_size=1000,
)


def expected_kept(total: int) -> dict[str, int]:
    ages = {status: POLICY.ages[status].days for status in FINISHED_STATUSES}
    kept: dict[str, int] = {}
    for n in range(1, total + 1):
        status = FINISHED_STATUSES[n % 4]
        if finished_days_ago(n) < ages[status]:
            kept[status] = kept.get(status, 0) + 1
    return kept


async def status_counts(conn: Conn) -> dict[str, int]:
    cursor = await conn.execute(
        "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status"
    )
    return {str(status): int(n) for status, n in await cursor.fetchall()}


@pytest.mark.timeout(300)
async def test_100k_finished_jobs_pruned_by_status_age_in_short_batches(conn: Conn) -> None:
    total = 100_000
    await insert_finished_jobs(conn, total)
    queued = await make_job(conn, "agents.run", {"agent": "a", "objective": "o"})
    running = await make_job(conn, "agents.run", {"agent": "a", "objective": "o"}, status="doing")
    await conn.execute(  # queued and running jobs are never pruned, however old
        "UPDATE procrastinate_events SET at = now() - interval '400 days' WHERE job_id IN (%s, %s)",
        [queued.id, running.id],
    )

    report = await retention.prune_finished_jobs(conn, POLICY)  # how fast: bench/bulk.py

    kept = expected_kept(total)
    assert await status_counts(conn) == {**kept, "todo": 1, "doing": 1}
    assert sum(report.deleted.values()) == total - sum(kept.values())
    assert report.deleted == {
        status: total // 4 - kept.get(status, 0) for status in FINISHED_STATUSES
    }
    # cascades: nothing left behind for deleted jobs
    for table in ("procrastinate_events", "pgjobs_jobs", "pgjobs_attempts"):
        cursor = await conn.execute(
            f"SELECT count(*) FROM {table} t "
            "WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.id = t.job_id)"
        )
        assert await cursor.fetchone() == (0,), table
    assert await count(conn, "pgjobs_attempts") == sum(kept.values())
    # short transactions: one per 1000 jobs (how long each holds its locks: bench/bulk.py)
    assert total // POLICY.batch_size <= report.batches <= total // POLICY.batch_size + 3
    assert report.interrupted is None

    again = await retention.prune_finished_jobs(conn, POLICY)
    assert again.deleted == {}


async def test_a_row_someone_holds_is_skipped_not_waited_for(conn: Conn, database_url: str) -> None:
    await insert_finished_jobs(conn, 10)
    cursor = await conn.execute("SELECT min(id) FROM procrastinate_jobs WHERE status = 'succeeded'")
    row = await cursor.fetchone()
    assert row is not None
    (held_id,) = row
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        await holder.execute("SELECT 1 FROM procrastinate_jobs WHERE id = %s FOR UPDATE", [held_id])
        report = await retention.prune_finished_jobs(conn, POLICY)
        await holder.rollback()
    assert report.interrupted is None
    cursor = await conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE id = %s", [held_id])
    assert await cursor.fetchone() == (1,)
    assert (await retention.prune_finished_jobs(conn, POLICY)).deleted == {"succeeded": 1}


async def test_stops_between_batches_when_asked(conn: Conn) -> None:
    await insert_finished_jobs(conn, 3000)
    small = retention.RetentionPolicy(
        ages=POLICY.ages,
        maintenance_age=POLICY.maintenance_age,
        maintenance_queue=POLICY.maintenance_queue,
        batch_size=1000,
    )
    calls = 0

    def after_one_batch() -> bool:
        nonlocal calls
        calls += 1
        return calls > 1

    report = await retention.prune_finished_jobs(conn, small, should_stop=after_one_batch)
    assert report.batches == 1
    assert report.interrupted == "worker stopping"
    assert 0 < sum(report.deleted.values()) < 3000 - sum(expected_kept(3000).values())


async def test_maintenance_runs_are_kept_hours_not_days(conn: Conn, settings: Settings) -> None:
    """Succeeded rescue runs (one every 10 s) go after an hour; a failed one is kept."""
    app = build_app(settings)
    async with app.open_async():
        old_ids = [await app.tasks[maintenance.RESCUE_TASK].defer_async() for _ in range(3)]
    await run_worker_until_idle(settings, queues=[maintenance.MAINTENANCE_QUEUE])
    async with app.open_async():
        recent_id = await app.tasks[maintenance.RESCUE_TASK].defer_async()
    await run_worker_until_idle(settings, queues=[maintenance.MAINTENANCE_QUEUE])
    await conn.execute(
        "UPDATE procrastinate_events SET at = now() - interval '2 hours' WHERE job_id = ANY(%s)",
        [old_ids],
    )
    await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s", [old_ids[0]]
    )

    report = await retention.prune_finished_jobs(conn, POLICY)

    assert report.maintenance_deleted == 2
    cursor = await conn.execute(
        "SELECT id FROM procrastinate_jobs WHERE id = ANY(%s) ORDER BY id", [[*old_ids, recent_id]]
    )
    assert [row[0] for row in await cursor.fetchall()] == [old_ids[0], recent_id]


async def test_periodic_task_prunes_through_a_real_worker(conn: Conn, settings: Settings) -> None:
    await insert_finished_jobs(conn, 100)
    app = build_app(settings)
    async with app.open_async():
        await app.tasks[maintenance.RETENTION_TASK].defer_async()
    await run_worker_until_idle(settings, queues=[maintenance.MAINTENANCE_QUEUE])
    cursor = await conn.execute(
        "SELECT r.result FROM procrastinate_jobs j JOIN pgjobs_jobs r ON r.job_id = j.id "
        "WHERE j.task_name = %s AND j.status = 'succeeded'",
        [maintenance.RETENTION_TASK],
    )
    row = await cursor.fetchone()
    assert row is not None
    assert sum(row[0]["deleted"].values()) == 100 - sum(expected_kept(100).values())
