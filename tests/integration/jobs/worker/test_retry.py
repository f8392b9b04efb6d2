"""Retry policies, applied by a real procrastinate worker: attempts, next run time, errors."""

from __future__ import annotations

import datetime
from typing import Any

import httpx
import psycopg

from jobs.settings import Settings
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]
FINAL = ("succeeded", "failed", "cancelled", "aborted")


async def _get(client: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    job: dict[str, Any] = (await client.get(f"/jobs/{job_id}")).json()
    return job


async def test_transient_errors_are_retried_with_backoff_until_success(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    created = await client.post(
        "/jobs", json={"task": "tools.run", "args": {"tool": "curl", "fail_first_attempts": 2}}
    )
    job_id = created.json()["id"]

    async def waiting_for_retry() -> bool:
        job = await _get(client, job_id)
        return bool(job["status"] == "todo" and job["attempts"] == 1)

    await run_worker_until(settings, waiting_for_retry)
    # between attempts: the next run time and the error are visible over HTTP...
    waiting = await _get(client, job_id)
    first_end = datetime.datetime.fromisoformat(waiting["attempt_history"][0]["finished_at"])
    next_run = datetime.datetime.fromisoformat(waiting["scheduled_at"])
    # tools.run: 0.5 s initial delay, up to 20% jitter taken off
    assert 0.35 < (next_run - first_end).total_seconds() < 0.6
    assert waiting["error"]["type"] == "jobs.examples.workloads.TransientToolError"
    # ... and in SQL
    cursor = await conn.execute(
        "SELECT status, attempts, scheduled_at FROM procrastinate_jobs WHERE id = %s", [job_id]
    )
    assert await cursor.fetchone() == ("todo", 1, next_run)

    async def finished() -> bool:
        return (await _get(client, job_id))["status"] in FINAL

    await run_worker_until(settings, finished)
    job = await _get(client, job_id)
    assert job["status"] == "succeeded"
    assert job["attempts"] == 3
    assert job["result"] == {"tool": "curl", "output": {}, "attempt": 3}
    assert job["error"] is None
    history = job["attempt_history"]
    assert [attempt["outcome"] for attempt in history] == ["failed", "failed", "succeeded"]
    assert [attempt["error"]["message"] for attempt in history[:2]] == [
        "curl timed out (attempt 1)",
        "curl timed out (attempt 2)",
    ]
    assert {attempt["error"]["type"] for attempt in history[:2]} == {
        "jobs.examples.workloads.TransientToolError"
    }
    # the second wait doubled (exponential backoff): 1 s minus up to 20% jitter
    second_end = datetime.datetime.fromisoformat(history[1]["finished_at"])
    third_start = datetime.datetime.fromisoformat(history[2]["started_at"])
    assert (third_start - second_end).total_seconds() > 0.75
    events = [event["type"] for event in job["events"]]
    assert events.count("deferred_for_retry") == 2
    cursor = await conn.execute(
        "SELECT attempt, outcome, error_type FROM pgjobs_attempts WHERE job_id = %s ORDER BY 1",
        [job_id],
    )
    assert await cursor.fetchall() == [
        (1, "failed", "jobs.examples.workloads.TransientToolError"),
        (2, "failed", "jobs.examples.workloads.TransientToolError"),
        (3, "succeeded", None),
    ]


async def test_retries_stop_at_max_attempts(client: httpx.AsyncClient, settings: Settings) -> None:
    created = await client.post(
        "/jobs", json={"task": "tools.run", "args": {"tool": "curl", "fail_first_attempts": 10}}
    )
    job_id = created.json()["id"]

    async def finished() -> bool:
        return (await _get(client, job_id))["status"] in FINAL

    await run_worker_until(settings, finished)
    job = await _get(client, job_id)
    assert job["status"] == "failed"
    assert job["attempts"] == 3
    assert [attempt["outcome"] for attempt in job["attempt_history"]] == ["failed"] * 3
    assert job["error"]["message"] == "curl timed out (attempt 3)"


async def test_an_error_outside_the_policy_fails_at_once(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = await client.post(
        "/jobs",
        json={
            "task": "tools.run",
            "args": {"tool": "curl", "reject_first_attempts": 1, "fail_first_attempts": 3},
        },
    )
    job_id = created.json()["id"]

    async def finished() -> bool:
        return (await _get(client, job_id))["status"] in FINAL

    await run_worker_until(settings, finished)
    job = await _get(client, job_id)
    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["type"] == "jobs.examples.workloads.ToolRejectedError"
    assert "deferred_for_retry" not in [event["type"] for event in job["events"]]


async def test_tasks_publish_their_retry_policy_and_time_limits(client: httpx.AsyncClient) -> None:
    tasks = {task["name"]: task for task in (await client.get("/tasks")).json()}
    assert tasks["tools.run"]["retry"] == {
        "max_attempts": 3,
        "backoff": "exponential",
        "initial_delay": 0.5,
        "multiplier": 2.0,
        "max_delay": 30.0,
        "jitter": 0.2,
        "retry_on": ["jobs.examples.workloads.TransientToolError"],
        "never_retry": [],
    }
    assert tasks["agents.run"]["retry"] is None
    assert (tasks["llm.generate"]["time_limit"], tasks["llm.generate"]["soft_time_limit"]) == (
        600,
        540,
    )
