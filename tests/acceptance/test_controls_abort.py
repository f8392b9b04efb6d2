"""Abort latency with real processes: POST /jobs/{id}/cancel -> the job is ``aborted``.

procrastinate's worker LISTENs for abort requests (procrastinate_cancel_job_v1's
trigger NOTIFYs it), cancels an async job's task at once and flags a sync one.
The figures are printed (``pytest -s``) and asserted with room for a loaded machine.
"""

from __future__ import annotations

import datetime
import functools
import statistics
import time
from typing import Any

import httpx
import psycopg
import pytest

from harness.conditions import wait_for
from harness.stack import Stack

pytestmark = pytest.mark.acceptance

#: What the product promises is "well under a second"; the assertion allows for a busy CI.
LATENCY_BOUND = 3.0


def _job_in(client: httpx.Client, job_id: int, *statuses: str) -> dict[str, Any] | None:
    job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
    return job if job["status"] in statuses else None


def _server_latency(database_url: str, job_id: int) -> float:
    """Seconds between the abort_requested and aborted events, on the server's clock."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT type::text, at FROM procrastinate_events WHERE job_id = %s"
            " AND type IN ('abort_requested', 'aborted')",
            [job_id],
        ).fetchall()
    times: dict[str, datetime.datetime] = dict(rows)
    return (times["aborted"] - times["abort_requested"]).total_seconds()


def _measure(
    stack: Stack, client: httpx.Client, body: dict[str, Any], runs: int
) -> tuple[list[float], list[float]]:
    observed: list[float] = []
    server: list[float] = []
    for _ in range(runs):
        job_id: int = client.post("/jobs", json=body).json()["id"]
        wait_for(functools.partial(_job_in, client, job_id, "doing"), what="the job to start")
        start = time.monotonic()
        cancelled = client.post(f"/jobs/{job_id}/cancel").json()
        assert cancelled["abort_requested"] is True
        job = wait_for(
            functools.partial(_job_in, client, job_id, "aborted", "succeeded", "failed"),
            timeout=10,
            interval=0.005,
            what="the job to be aborted",
        )
        observed.append(time.monotonic() - start)
        assert job["status"] == "aborted"
        assert job["cancellation"]["requested_by"] == "api"
        assert job["attempt_history"][-1]["outcome"] == "aborted"
        server.append(_server_latency(stack.database_url, job_id))
    return observed, server


def _report(kind: str, observed: list[float], server: list[float]) -> None:
    print(
        f"\n{kind} abort latency over {len(observed)} runs: "
        f"client POST->aborted median {statistics.median(observed) * 1000:.0f} ms, "
        f"max {max(observed) * 1000:.0f} ms; "
        f"server abort_requested->aborted median {statistics.median(server) * 1000:.0f} ms, "
        f"max {max(server) * 1000:.0f} ms"
    )


def test_running_async_and_sync_jobs_abort_promptly(stack: Stack) -> None:
    stack.start_api()
    # a long poll interval: only LISTEN/NOTIFY can make the abort prompt
    stack.start_worker("--abort-job-polling-interval", "60")
    with stack.client() as client:
        async_observed, async_server = _measure(
            stack,
            client,
            {
                "task": "llm.generate",
                "args": {"prompt": "slow", "max_tokens": 1000, "seconds_per_token": 0.05},
            },
            runs=5,
        )
        sync_observed, sync_server = _measure(
            stack,
            client,
            {
                "task": "video.transcode",
                "args": {"video_url": "s3://b/v.mov", "duration_seconds": 60, "segments": 1200},
            },
            runs=5,
        )
    _report("async (llm.generate)", async_observed, async_server)
    _report("sync (video.transcode, 50 ms segments)", sync_observed, sync_server)
    assert max(async_observed) < LATENCY_BOUND
    assert max(sync_observed) < LATENCY_BOUND
