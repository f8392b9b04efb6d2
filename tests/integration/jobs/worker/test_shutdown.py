"""Graceful shutdown with real worker processes: finish within the grace period, else requeue."""

from __future__ import annotations

import asyncio
import datetime
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from harness.conditions import eventually
from harness.stack import Stack
from jobs.maintenance import rescue
from jobs.settings import Settings
from jobs.worker.app import build_app
from tests.factories import make_job

Conn = psycopg.AsyncConnection[Any]
T = TypeVar("T")

AGENT = {"agent": "a", "objective": "o"}


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(database_url=database_url, log_dir=tmp_path)
    try:
        yield running
    finally:
        running.close()


async def job_state(conn: Conn, job_id: int) -> dict[str, Any]:
    cursor = await conn.execute(
        "SELECT status::text, attempts, worker_id, scheduled_at, "
        "       array(SELECT type::text FROM procrastinate_events "
        "              WHERE job_id = %(id)s ORDER BY id), "
        "       array(SELECT outcome || ' ' || COALESCE(error_type, '') FROM pgjobs_attempts "
        "              WHERE job_id = %(id)s ORDER BY attempt) "
        "  FROM procrastinate_jobs WHERE id = %(id)s",
        {"id": job_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    keys = ("status", "attempts", "worker_id", "scheduled_at", "events", "attempts_log")
    return dict(zip(keys, row, strict=True))


async def running(conn: Conn, job_id: int) -> dict[str, Any] | None:
    state = await job_state(conn, job_id)
    return state if state["status"] == "doing" else None


async def exited(process: subprocess.Popen[bytes], within: float = 60) -> int:
    """The process's exit status, once it exited (within ``within`` seconds)."""

    async def probe() -> tuple[int] | None:
        status = process.poll()
        return None if status is None else (status,)

    (status,) = await eventually(probe, within=within, what="the worker to exit")
    return status


async def test_sigterm_lets_a_running_job_finish_and_starts_nothing_new(
    conn: Conn, stack: Stack
) -> None:
    long_job = await make_job(conn, "agents.run", {**AGENT, "steps": 5, "seconds_per_step": 0.4})
    worker = stack.start_worker("--concurrency", "1", PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS="30")
    await eventually(lambda: running(conn, long_job.id), what="the long job to start")
    queued = [await make_job(conn, "agents.run", AGENT) for _ in range(3)]

    worker.send_signal(signal.SIGTERM)
    assert await exited(worker) == 0, stack.logs()

    assert (await job_state(conn, long_job.id))["status"] == "succeeded"
    for job in queued:
        state = await job_state(conn, job.id)
        assert (state["status"], state["events"]) == ("todo", ["deferred"]), stack.logs()
    cursor = await conn.execute("SELECT count(*) FROM procrastinate_workers")
    assert await cursor.fetchone() == (0,)  # it unregistered


@pytest.mark.parametrize(
    ("task", "args"),
    [
        ("agents.run", {**AGENT, "steps": 100, "seconds_per_step": 0.2}),
        ("video.transcode", {"video_url": "s3://b/v.mov", "duration_seconds": 20, "segments": 200}),
    ],
    ids=["async", "sync"],
)
async def test_a_job_outlasting_the_grace_period_is_requeued_for_another_worker(
    conn: Conn, stack: Stack, task: str, args: dict[str, Any]
) -> None:
    job = await make_job(conn, task, args)
    first = stack.start_worker(PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS="1")
    started = await eventually(lambda: running(conn, job.id), what="the job to start")

    first.send_signal(signal.SIGTERM)
    assert await exited(first) == 0, stack.logs()

    state = await job_state(conn, job.id)
    assert state["status"] == "todo", stack.logs()
    assert state["scheduled_at"] <= datetime.datetime.now(datetime.UTC)  # at once
    assert state["attempts"] == 1
    # ('scheduled' events come with procrastinate's retry setting scheduled_at to now)
    events = [event for event in state["events"] if event != "scheduled"]
    assert events == ["deferred", "started", "deferred_for_retry"], state["events"]
    assert state["attempts_log"] == ["aborted jobs.tasks.retry.WorkerShutdown"]

    stack.start_worker(PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS="1")

    async def taken_by_another_worker() -> dict[str, Any] | None:
        now = await job_state(conn, job.id)
        return (
            now if now["status"] == "doing" and now["worker_id"] != started["worker_id"] else None
        )

    await eventually(taken_by_another_worker, what="another worker to run the job")


def spawn_pgjobs_worker(database_url: str, log_path: Path) -> subprocess.Popen[bytes]:
    """``pgjobs worker`` (the supervisor) with a 1 s grace period."""
    stack = Stack(database_url=database_url, log_dir=log_path.parent)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli.main", "worker"],
            env=stack.env(PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_pgjobs_worker_forwards_sigterm_and_exits_with_its_worker(
    conn: Conn, database_url: str, tmp_path: Path
) -> None:
    """The supervisor: SIGTERM reaches the worker once, the job is requeued, nothing restarts."""
    job = await make_job(conn, "agents.run", {**AGENT, "steps": 100, "seconds_per_step": 0.2})
    supervisor = spawn_pgjobs_worker(database_url, tmp_path / "pgjobs-worker.log")
    try:
        await eventually(lambda: running(conn, job.id), what="the job to start")
        supervisor.send_signal(signal.SIGTERM)
        assert await exited(supervisor) == 0
        state = await job_state(conn, job.id)
        assert (state["status"], state["attempts_log"]) == (
            "todo",
            ["aborted jobs.tasks.retry.WorkerShutdown"],
        )
        log_text = (tmp_path / "pgjobs-worker.log").read_text()
        assert log_text.count(" started (pid ") == 1, log_text
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


async def test_a_stopping_worker_keeps_heartbeating_until_its_jobs_are_done(
    conn: Conn, stack: Stack, settings: Settings
) -> None:
    """procrastinate stops heartbeating at SIGTERM; pgjobs keeps it up while jobs run, so the
    rescue never takes a job a worker is still finishing."""
    job = await make_job(conn, "agents.run", {**AGENT, "steps": 10, "seconds_per_step": 0.5})
    worker = stack.start_worker(
        PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS="30",
        PGJOBS_WORKER_HEARTBEAT_SECONDS="0.5",
        PGJOBS_WORKER_STALLED_AFTER_SECONDS="2",
    )
    await eventually(lambda: running(conn, job.id), what="the job to start")
    worker.send_signal(signal.SIGTERM)
    policy = rescue.RescuePolicy(stalled_after=2.0, max_attempts=3)
    app = build_app(settings)
    deadline = time.monotonic() + 3.5  # well past stalled_after, well before the job ends
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # pacing: look at it several times while it finishes
        assert (await rescue.rescue_stalled_jobs(conn, app, policy)).jobs == {}
    assert await exited(worker) == 0, stack.logs()
    assert (await job_state(conn, job.id))["status"] == "succeeded"
