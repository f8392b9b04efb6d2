"""A stuck sync task in a real worker process: the job fails at its hard limit, and the
worker, at its limit of abandoned threads, stops on its own so a supervisor can restart it."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import psycopg
import pytest

from harness.conditions import DEFAULT_TIMEOUT, wait_for
from harness.stack import Stack
from jobs.control.enqueue import enqueue
from tests.acceptance.controls_app import controls

pytestmark = pytest.mark.acceptance

CONTROLS_APP = "tests.acceptance.controls_app.app"


async def _enqueue_stuck(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        job = await enqueue(conn, "controls.stuck", {"seconds": 600}, tasks=controls)
    return job.id


def _error(database_url: str, job_id: int) -> tuple[Any, ...] | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT job.status::text, record.error_type, record.error_traceback"
            "  FROM procrastinate_jobs job JOIN pgjobs_jobs record ON record.job_id = job.id"
            " WHERE job.id = %s AND job.status IN ('succeeded', 'failed', 'aborted')",
            [job_id],
        ).fetchone()


def test_stuck_sync_task_fails_and_its_worker_stops_itself(stack: Stack) -> None:
    worker = stack.start_worker(
        "--queues", "stuck", app=CONTROLS_APP, PGJOBS_WORKER_MAX_ABANDONED_THREADS="1"
    )
    job_id = asyncio.run(_enqueue_stuck(stack.database_url))
    status, error_type, traceback = wait_for(
        lambda: _error(stack.database_url, job_id), what="the stuck job to fail"
    )
    assert (status, error_type) == ("failed", "jobs.tasks.time_limits.TimeLimitExceeded")
    assert "threading.Event().wait(args.seconds)" in traceback
    # the thread is still blocked (600 s) and cannot be killed: the process must still exit
    try:
        returncode = worker.wait(timeout=DEFAULT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("the worker kept running with an abandoned thread") from None
    assert returncode == 0
    log = (stack.log_dir / "worker-0.log").read_text()
    assert "stopping the worker: 1 abandoned task threads are still running" in log
