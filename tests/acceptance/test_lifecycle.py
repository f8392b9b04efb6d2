"""The whole product, as users run it: uvicorn + procrastinate CLI workers, driven over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.conditions import wait_for
from harness.stack import Stack

pytestmark = pytest.mark.acceptance


def _job_in(client: httpx.Client, job_id: int, *statuses: str) -> dict[str, Any] | None:
    job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
    return job if job["status"] in statuses else None


def test_created_job_runs_to_succeeded_with_its_result(stack: Stack) -> None:
    stack.start_api()
    stack.start_worker()
    with stack.client() as client:
        created = client.post(
            "/jobs",
            json={"task": "llm.generate", "args": {"prompt": "durable jobs", "max_tokens": 6}},
        )
        assert created.status_code == 201
        job = wait_for(
            lambda: _job_in(client, created.json()["id"], "succeeded", "failed"),
            what="the job to finish",
        )
    assert job["status"] == "succeeded"
    assert job["result"] == {"text": "durable jobs durable jobs durable jobs", "tokens": 6}
    assert job["progress"]["percent"] == 100
    assert job["attempt_history"][0]["worker_id"] is not None


def test_failing_job_ends_failed_with_its_traceback(stack: Stack) -> None:
    stack.start_api()
    # retries come due between polls: poll often so the 3 attempts take ~2 s, not ~10 s
    stack.start_worker("--fetch-job-polling-interval", "0.2")
    with stack.client() as client:
        # more transient failures than tools.run's policy allows attempts (3)
        created = client.post(
            "/jobs", json={"task": "tools.run", "args": {"tool": "flaky", "fail_first_attempts": 5}}
        )
        job = wait_for(
            lambda: _job_in(client, created.json()["id"], "succeeded", "failed"),
            what="the job to fail",
        )
    assert job["status"] == "failed"
    assert job["attempts"] == 3
    assert [attempt["outcome"] for attempt in job["attempt_history"]] == ["failed"] * 3
    assert job["error"]["type"] == "jobs.examples.workloads.TransientToolError"
    assert "Traceback (most recent call last)" in job["error"]["traceback"]


def test_cancelled_queued_job_never_runs(stack: Stack) -> None:
    stack.start_api()
    with stack.client() as client:
        created = client.post(
            "/jobs", json={"task": "tools.run", "args": {"tool": "late"}, "schedule_in": 1}
        ).json()
        cancelled = client.post(f"/jobs/{created['id']}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"

        stack.start_worker()
        # a later job on the same queue proves the worker is running and past the cancelled one
        marker = client.post("/jobs", json={"task": "tools.run", "args": {"tool": "marker"}}).json()
        wait_for(lambda: _job_in(client, marker["id"], "succeeded"), what="the marker job")
        wait_for(
            lambda: client.get("/health").json()["workers"]["alive"] >= 1, what="a live worker"
        )

        final = client.get(f"/jobs/{created['id']}").json()
    assert final["status"] == "cancelled"
    assert final["attempt_history"] == []
    assert "started" not in [event["type"] for event in final["events"]]


def test_running_async_job_is_aborted_on_cancel(stack: Stack) -> None:
    stack.start_api()
    stack.start_worker()
    with stack.client() as client:
        created = client.post(
            "/jobs",
            json={
                "task": "llm.generate",
                "args": {"prompt": "slow", "max_tokens": 400, "seconds_per_token": 0.05},
            },
        ).json()
        wait_for(lambda: _job_in(client, created["id"], "doing"), what="the job to start")
        assert client.post(f"/jobs/{created['id']}/cancel").json()["abort_requested"] is True
        job = wait_for(
            lambda: _job_in(client, created["id"], "aborted", "succeeded", "failed"),
            what="the job to be aborted",
        )
    assert job["status"] == "aborted"
    assert job["attempt_history"][-1]["outcome"] == "aborted"
