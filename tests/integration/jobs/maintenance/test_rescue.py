"""Stalled-job rescue against a real Postgres: who is rescued, how, and who never is."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel

from harness.conditions import eventually
from jobs.maintenance import rescue
from jobs.maintenance import tasks as maintenance
from jobs.settings import Settings
from jobs.tasks.context import TaskContext
from jobs.tasks.registry import TaskRegistry
from jobs.tasks.retry import RetryPolicy
from jobs.worker.app import build_app
from tests.factories import make_job
from tests.integration.helpers import run_worker_until_idle

Conn = psycopg.AsyncConnection[Any]

STALLED_AFTER = 5.0
POLICY = rescue.RescuePolicy(stalled_after=STALLED_AFTER, max_attempts=3)


@pytest.fixture(autouse=True)
async def _server_up_long_enough(conn: Conn) -> None:
    """Nothing is stalled in a server's first `stalled_after` seconds (a fresh embedded one)."""

    async def up_long_enough() -> bool:
        cursor = await conn.execute(
            "SELECT extract(epoch FROM now() - pg_postmaster_start_time())::float8"
        )
        row = await cursor.fetchone()
        assert row is not None
        return bool(row[0] > STALLED_AFTER + 1)

    await eventually(up_long_enough, interval=0.2, what="the server to be up long enough")


async def make_worker(conn: Conn, *, heartbeat_age: float) -> int:
    cursor = await conn.execute(
        "INSERT INTO procrastinate_workers (last_heartbeat) "
        "VALUES (now() - make_interval(secs => %s)) RETURNING id",
        [heartbeat_age],
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def make_running_job(conn: Conn, worker_id: int | None, task: str = "agents.run") -> int:
    """A job in ``doing`` on ``worker_id``; agents.run has no retry policy."""
    args = {"agent": "a", "objective": "o"} if task == "agents.run" else {"tool": "t"}
    job = await make_job(conn, task, args, status="doing")
    await conn.execute(
        "UPDATE procrastinate_jobs SET worker_id = %s WHERE id = %s", [worker_id, job.id]
    )
    return job.id


async def job_row(conn: Conn, job_id: int) -> dict[str, Any]:
    cursor = await conn.execute(
        "SELECT status::text, attempts, scheduled_at, worker_id, "
        "       array(SELECT type::text FROM procrastinate_events "
        "              WHERE job_id = %(id)s ORDER BY id) AS events, "
        "       array(SELECT outcome || ': ' || COALESCE(error_message, '') FROM pgjobs_attempts "
        "              WHERE job_id = %(id)s ORDER BY attempt) AS attempts_log "
        "  FROM procrastinate_jobs WHERE id = %(id)s",
        {"id": job_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    keys = ("status", "attempts", "scheduled_at", "worker_id", "events", "attempts_log")
    return dict(zip(keys, row, strict=True))


async def test_job_of_a_dead_worker_is_retried_with_a_lost_attempt(
    conn: Conn, settings: Settings
) -> None:
    dead = await make_worker(conn, heartbeat_age=3600)
    job_id = await make_running_job(conn, dead)

    report = await rescue.rescue_stalled_jobs(conn, build_app(settings), POLICY)

    assert report.jobs == {"retry": [job_id]}
    job = await job_row(conn, job_id)
    assert job["status"] == "todo"
    assert job["attempts"] == 1
    assert job["scheduled_at"] is None  # at once
    assert job["events"] == ["deferred", "started", "deferred_for_retry"]
    (lost,) = job["attempts_log"]
    assert lost.startswith(f"lost: worker {dead} stopped heartbeating (last heartbeat 3600 s ago)")
    assert "retried at once (up to 3 runs for a task without a retry policy)" in lost
    # and its worker, with no job left, is pruned
    assert report.pruned_workers == [dead]


async def test_jobs_of_live_workers_are_never_touched(conn: Conn, settings: Settings) -> None:
    alive = await make_worker(conn, heartbeat_age=0)
    job_id = await make_running_job(conn, alive)

    report = await rescue.rescue_stalled_jobs(conn, build_app(settings), POLICY)

    assert report.jobs == {}
    assert report.pruned_workers == []
    job = await job_row(conn, job_id)
    assert (job["status"], job["attempts"], job["worker_id"]) == ("doing", 0, alive)
    assert job["attempts_log"] == []


async def test_job_whose_worker_row_is_gone_is_rescued(conn: Conn, settings: Settings) -> None:
    job_id = await make_running_job(conn, None)
    report = await rescue.rescue_stalled_jobs(conn, build_app(settings), POLICY)
    assert report.jobs == {"retry": [job_id]}
    assert (await job_row(conn, job_id))["attempts_log"][0].startswith(
        "lost: its worker (unknown) is gone"
    )


async def test_without_a_policy_a_job_runs_at_most_max_attempts_times(
    conn: Conn, settings: Settings
) -> None:
    app = build_app(settings)
    dead = await make_worker(conn, heartbeat_age=3600)
    job_id = await make_running_job(conn, dead)
    actions = []
    for _ in range(3):
        report = await rescue.rescue_stalled_jobs(conn, app, POLICY)
        actions += list(report.jobs)
        # the retried job is fetched by the (dead) worker again
        await conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s "
            "AND status = 'todo'",
            [await make_worker(conn, heartbeat_age=3600), job_id],
        )
    assert actions == ["retry", "retry", "failed"]
    job = await job_row(conn, job_id)
    assert (job["status"], job["attempts"]) == ("failed", 3)
    assert job["events"][-1] == "failed"
    assert [entry.split(":")[0] for entry in job["attempts_log"]] == ["lost"] * 3
    assert (
        "failed (up to 3 runs for a task without a retry policy allows no retry)"
        in (job["attempts_log"][-1])
    )


class _NoArgs(BaseModel):
    pass


def _registry_with_policy(policy: RetryPolicy) -> TaskRegistry:
    tasks = TaskRegistry()

    @tasks.task(name="flaky.call", args=_NoArgs, retry=policy)
    async def flaky(ctx: TaskContext, args: _NoArgs) -> None:
        """A task with a retry policy."""

    return tasks


async def test_the_tasks_retry_policy_decides_delay_and_limit(
    conn: Conn, settings: Settings
) -> None:
    policy = RetryPolicy(max_attempts=2, initial_delay=600, max_delay=600, jitter=0)
    app = build_app(settings, tasks=_registry_with_policy(policy))
    dead = await make_worker(conn, heartbeat_age=3600)
    job_id = await make_running_job(conn, dead)
    await conn.execute(
        "UPDATE procrastinate_jobs SET task_name = 'flaky.call' WHERE id = %s", [job_id]
    )

    first = await rescue.rescue_stalled_jobs(conn, app, POLICY)
    assert first.jobs == {"retry": [job_id]}
    row = await job_row(conn, job_id)
    assert row["status"] == "todo"
    delay = row["scheduled_at"] - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(seconds=500) < delay <= datetime.timedelta(seconds=600)
    assert "(its task's retry policy: 2 runs at most)" in row["attempts_log"][0]

    await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'doing', scheduled_at = NULL WHERE id = %s",
        [job_id],
    )
    second = await rescue.rescue_stalled_jobs(conn, app, POLICY)
    assert second.jobs == {"failed": [job_id]}
    assert (await job_row(conn, job_id))["status"] == "failed"


async def test_a_policys_exception_filter_does_not_stop_a_rescue(
    conn: Conn, settings: Settings
) -> None:
    """tools.run retries only TransientToolError; a dead worker is still retried."""
    job_id = await make_running_job(conn, await make_worker(conn, heartbeat_age=3600), "tools.run")
    report = await rescue.rescue_stalled_jobs(conn, build_app(settings), POLICY)
    assert report.jobs == {"retry": [job_id]}


async def test_abort_requested_job_is_finished_aborted(conn: Conn, settings: Settings) -> None:
    dead = await make_worker(conn, heartbeat_age=3600)
    job_id = await make_running_job(conn, dead)
    await conn.execute("SELECT procrastinate_cancel_job_v1(%s, true, false)", [job_id])

    report = await rescue.rescue_stalled_jobs(conn, build_app(settings), POLICY)

    assert report.jobs == {"aborted": [job_id]}
    job = await job_row(conn, job_id)
    assert job["status"] == "aborted"
    assert job["events"][-1] == "aborted"


async def test_attempt_recorded_as_succeeded_is_finished_not_run_again(
    conn: Conn, settings: Settings
) -> None:
    """The worker ran the job and recorded it; only its status write was lost."""
    dead = await make_worker(conn, heartbeat_age=3600)
    job_id = await make_running_job(conn, dead)
    await conn.execute(
        "INSERT INTO pgjobs_attempts (job_id, attempt, worker_id, started_at, finished_at, "
        "outcome) VALUES (%s, 1, %s, now(), now(), 'succeeded')",
        [job_id, dead],
    )

    report = await rescue.rescue_stalled_jobs(conn, build_app(settings), POLICY)

    assert report.jobs == {"succeeded": [job_id]}
    job = await job_row(conn, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 1)
    assert job["attempts_log"] == ["succeeded: "]  # the worker's record is kept as it was


async def test_concurrent_rescuers_rescue_each_job_once(
    conn: Conn, database_url: str, settings: Settings
) -> None:
    app = build_app(settings)
    dead = await make_worker(conn, heartbeat_age=3600)
    job_ids = [await make_running_job(conn, dead) for _ in range(30)]

    async def rescuer() -> rescue.RescueReport:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as own:
            policy = rescue.RescuePolicy(stalled_after=STALLED_AFTER, max_attempts=3, batch_size=5)
            return await rescue.rescue_stalled_jobs(own, app, policy)

    reports = await asyncio.gather(*(rescuer() for _ in range(4)))

    rescued = sorted(job_id for report in reports for job_id in report.jobs.get("retry", []))
    assert rescued == job_ids
    cursor = await conn.execute(
        "SELECT count(*) FILTER (WHERE type = 'deferred_for_retry'), "
        "       (SELECT count(*) FROM pgjobs_attempts WHERE outcome = 'lost') "
        "  FROM procrastinate_events"
    )
    assert await cursor.fetchone() == (30, 30)


async def test_a_locked_job_is_skipped_without_waiting(
    conn: Conn, database_url: str, settings: Settings
) -> None:
    """A row someone holds (a worker finishing it right now) never blocks the rescue."""
    dead = await make_worker(conn, heartbeat_age=3600)
    locked_id = await make_running_job(conn, dead)
    free_id = await make_running_job(conn, dead)
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        await holder.execute(
            "SELECT 1 FROM procrastinate_jobs WHERE id = %s FOR UPDATE", [locked_id]
        )
        report = await rescue.rescue_stalled_jobs(conn, build_app(settings), POLICY)
        await holder.rollback()
    assert report.jobs == {"retry": [free_id]}
    assert report.pruned_workers == []  # it still runs the locked job
    # it never waited for the held row: the holder keeps it until the rescue returns, so any
    # wait would have ended in the lock timeout, which stops the run and says so
    assert report.interrupted is False
    assert (await job_row(conn, locked_id))["status"] == "doing"


async def test_periodic_task_rescues_through_a_real_worker(conn: Conn, settings: Settings) -> None:
    """The registered maintenance task, run by an in-process procrastinate worker."""
    dead = await make_worker(conn, heartbeat_age=3600)
    job_id = await make_running_job(conn, dead)
    app = build_app(settings)
    async with app.open_async():
        await app.tasks[maintenance.RESCUE_TASK].defer_async()
    quick = settings.model_copy(update={"worker_stalled_after_seconds": STALLED_AFTER})
    await run_worker_until_idle(quick, queues=[maintenance.MAINTENANCE_QUEUE])

    cursor = await conn.execute(
        "SELECT r.result FROM procrastinate_jobs j JOIN pgjobs_jobs r ON r.job_id = j.id "
        "WHERE j.task_name = %s AND j.status = 'succeeded'",
        [maintenance.RESCUE_TASK],
    )
    row = await cursor.fetchone()
    assert row is not None
    assert row[0]["rescued"] == {"retry": [job_id]}
    assert (await job_row(conn, job_id))["status"] == "todo"


def test_schedules_follow_the_settings(settings: Settings) -> None:
    app = build_app(settings.model_copy(update={"rescue_cron": "*/2 * * * * *"}))
    periodic = app.periodic_registry.periodic_tasks
    assert periodic[(maintenance.RESCUE_TASK, maintenance.RESCUE_TASK)].cron == "*/2 * * * * *"
    assert periodic[(maintenance.RESCUE_TASK, maintenance.RESCUE_TASK)].configure_kwargs == {
        "queueing_lock": maintenance.RESCUE_TASK
    }
    disabled = build_app(settings.model_copy(update={"retention_enabled": False}))
    assert not [key for key in disabled.periodic_registry.periodic_tasks if "prune" in key[0]]
