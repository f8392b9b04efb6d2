"""Abort with real processes: POST /jobs/{id}/cancel stops a running job, async or sync.

procrastinate's worker LISTENs for abort requests (procrastinate_cancel_job_v1's
trigger NOTIFYs it), cancels an async job's task at once and flags a sync one. The
worker here polls for them only once an hour and each job would run for minutes,
so a job that ends ``aborted`` before the test's deadline was stopped through the
notification. How soon: ``bench/abort.py``.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
import pytest

from harness.conditions import wait_for
from harness.stack import Stack

pytestmark = pytest.mark.acceptance

#: 4096 tokens at 50 ms each: about 200 s, longer than any deadline below.
ASYNC_JOB = {
    "task": "llm.generate",
    "args": {"prompt": "slow", "max_tokens": 4096, "seconds_per_token": 0.05},
}
#: 10,000 segments of 60 ms: 600 s, checking for an abort between segments.
SYNC_JOB = {
    "task": "video.transcode",
    "args": {"video_url": "s3://b/v.mov", "duration_seconds": 600, "segments": 10_000},
}


def _job_in(client: httpx.Client, job_id: int, *statuses: str) -> dict[str, Any] | None:
    job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
    return job if job["status"] in statuses else None


def _abort_running(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    job_id: int = client.post("/jobs", json=body).json()["id"]
    wait_for(functools.partial(_job_in, client, job_id, "doing"), what="the job to start")
    cancelled = client.post(f"/jobs/{job_id}/cancel").json()
    assert cancelled["abort_requested"] is True
    return wait_for(
        functools.partial(_job_in, client, job_id, "aborted", "succeeded", "failed"),
        what="the job to end",
    )


def test_running_async_and_sync_jobs_are_aborted_through_the_notification(stack: Stack) -> None:
    stack.start_api()
    # a poll once an hour: only LISTEN/NOTIFY can end the jobs before the deadline
    stack.start_worker("--abort-job-polling-interval", "3600")
    with stack.client() as client:
        for body in (ASYNC_JOB, SYNC_JOB, ASYNC_JOB, SYNC_JOB):  # twice: the worker goes on
            job = _abort_running(client, body)
            assert job["status"] == "aborted", (body["task"], job)
            assert job["cancellation"]["requested_by"] == "api"
            assert job["attempt_history"][-1]["outcome"] == "aborted"
