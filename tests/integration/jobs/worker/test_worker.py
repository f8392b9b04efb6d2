"""A real procrastinate worker (in-process) runs jobs and the middleware stores their outcome."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from jobs.settings import Settings
from tests.factories import make_job
from tests.integration.helpers import run_worker_until_idle

Conn = psycopg.AsyncConnection[Any]


async def test_success_stores_result_progress_and_attempt(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = await client.post(
        "/jobs", json={"task": "llm.generate", "args": {"prompt": "one two", "max_tokens": 4}}
    )
    await run_worker_until_idle(settings)
    job = (await client.get(f"/jobs/{created.json()['id']}")).json()
    assert job["status"] == "succeeded"
    assert job["result"] == {"text": "one two one two", "tokens": 4}
    assert job["progress"]["percent"] == 100
    assert job["progress"]["message"] == "4 tokens"
    assert [event["type"] for event in job["events"]] == ["deferred", "started", "succeeded"]
    assert job["started_at"] is not None
    assert job["finished_at"] is not None
    (attempt,) = job["attempt_history"]
    assert attempt["outcome"] == "succeeded"
    assert attempt["attempt"] == 1


async def test_failure_stores_error_type_message_and_traceback(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # a rejection is outside tools.run's retry policy: the first failure is final
    created = await client.post(
        "/jobs", json={"task": "tools.run", "args": {"tool": "curl", "reject_first_attempts": 1}}
    )
    await run_worker_until_idle(settings)
    job = (await client.get(f"/jobs/{created.json()['id']}")).json()
    assert job["status"] == "failed"
    assert job["error"]["type"] == "jobs.examples.workloads.ToolRejectedError"
    assert job["error"]["message"] == "curl rejected the input (attempt 1)"
    assert "Traceback (most recent call last)" in job["error"]["traceback"]
    assert "raise ToolRejectedError" in job["error"]["traceback"]
    assert job["attempt_history"][0]["error"]["type"] == "jobs.examples.workloads.ToolRejectedError"


async def test_retry_then_success_keeps_both_attempts(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = await client.post(
        "/jobs", json={"task": "tools.run", "args": {"tool": "curl", "reject_first_attempts": 1}}
    )
    job_id = created.json()["id"]
    await run_worker_until_idle(settings)
    assert (await client.post(f"/jobs/{job_id}/retry")).status_code == 200
    await run_worker_until_idle(settings)
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["status"] == "succeeded"
    assert job["error"] is None
    assert [a["outcome"] for a in job["attempt_history"]] == ["failed", "succeeded"]
    assert job["result"]["attempt"] == 2


async def test_sync_task_reports_progress_from_its_thread(
    conn: Conn, client: httpx.AsyncClient, settings: Settings
) -> None:
    job = await make_job(
        conn,
        "video.transcode",
        {"video_url": "s3://b/clip.mov", "duration_seconds": 0.05, "segments": 5},
    )
    await run_worker_until_idle(settings)
    body = (await client.get(f"/jobs/{job.id}")).json()
    assert body["status"] == "succeeded"
    assert body["result"] == {"output": "clip.mov.mp4", "segments": 5}
    assert body["progress"] == {
        "percent": 100.0,
        "message": "segment 5/5",
        "updated_at": body["progress"]["updated_at"],
    }


async def test_jobs_deferred_outside_pgjobs_get_a_record(conn: Conn, settings: Settings) -> None:
    """A plain procrastinate defer (no pgjobs row yet) still gets its result stored."""
    app = await run_worker_until_idle(settings)  # opens/closes cleanly with no job
    async with app.open_async():
        job_id = await app.tasks["agents.run"].defer_async(agent="a", objective="o", steps=2)
    await run_worker_until_idle(settings)
    cursor = await conn.execute(
        "SELECT result, created_at FROM pgjobs_jobs WHERE job_id = %s", [job_id]
    )
    row = await cursor.fetchone()
    assert row is not None
    assert row[0] == {"agent": "a", "objective": "o", "steps": 2}
    assert row[1] is not None
