"""A worker that lacks a job's task never fails it silently: it records why and puts it back."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from jobs.settings import Settings
from tests import byot
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]


async def enqueue_sql(conn: Conn, task: str, args: str, **options: Any) -> int:
    """A job created through pgjobs_enqueue_v1 (as any driver would)."""
    named = "".join(f", {name} => %({name})s" for name in options)
    cursor = await conn.execute(
        f"SELECT pgjobs_enqueue_v1(%(task)s, %(args)s::jsonb{named})",  # names: test constants
        {"task": task, "args": args, **options},
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def job_row(conn: Conn, job_id: int) -> tuple[str, int, Any]:
    cursor = await conn.execute(
        "SELECT status::text, attempts, scheduled_at FROM procrastinate_jobs WHERE id = %s",
        [job_id],
    )
    row = await cursor.fetchone()
    assert row is not None
    return row[0], row[1], row[2]


async def publish_byot(conn: Conn, settings: Settings) -> None:
    """Let a worker that has the byot tasks publish them (as a deployed one would)."""

    async def published() -> bool:
        cursor = await conn.execute(
            "SELECT 1 FROM pgjobs_task_catalog WHERE task_name = 'byot.resize'"
        )
        return await cursor.fetchone() is not None

    await run_worker_until(settings, published, tasks=byot.REGISTRY, queues=["nothing-here"])


async def test_a_worker_without_the_task_puts_the_job_back_naming_itself(
    conn: Conn, settings: Settings, client: httpx.AsyncClient
) -> None:
    await publish_byot(conn, settings)
    job_id = await enqueue_sql(conn, "byot.resize", '{"url": "u", "width": 3}')

    async def put_back() -> bool:
        return (await job_row(conn, job_id))[2] is not None

    # the demo worker (jobs.examples) does not have byot.resize
    await run_worker_until(settings, put_back, queues=["byot-images"])
    status, attempts, _ = await job_row(conn, job_id)
    assert (status, attempts) == ("todo", 0)  # nothing ran: no attempt counted
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["error"]["type"] == "jobs.worker.unavailable.TaskNotAvailable"
    assert "does not have task 'byot.resize'" in job["error"]["message"]
    assert "task modules: jobs.examples" in job["error"]["message"]
    (attempt,) = job["attempt_history"]
    assert (attempt["attempt"], attempt["outcome"]) == (1, "unavailable")
    assert attempt["worker_id"] is not None
    assert {"started", "deferred_for_retry"} <= {event["type"] for event in job["events"]}

    # a worker that has the task runs it when it comes due: attempt 1 is the real one now
    async def succeeded() -> bool:
        return (await job_row(conn, job_id))[0] == "succeeded"

    await run_worker_until(settings, succeeded, tasks=byot.REGISTRY, queues=["byot-images"])
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["result"] == {"url": "u", "width": 3}
    assert job["error"] is None
    assert [(a["attempt"], a["outcome"]) for a in job["attempt_history"]] == [(1, "succeeded")]


async def test_after_the_timeout_the_job_fails_with_the_reason_as_a_dead_letter(
    conn: Conn, settings: Settings, client: httpx.AsyncClient
) -> None:
    await publish_byot(conn, settings)
    job_id = await enqueue_sql(conn, "byot.resize", '{"url": "u", "width": 3}')
    impatient = settings.model_copy(update={"task_unavailable_timeout_seconds": 0.5})

    async def failed() -> bool:
        return (await job_row(conn, job_id))[0] == "failed"

    # put back once (offered again 1 s later), then, past the timeout, failed
    await run_worker_until(impatient, failed, queues=["byot-images"])
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["error"]["type"] == "jobs.worker.unavailable.TaskNotAvailable"
    assert (
        "no worker that has task 'byot.resize' took the job within 0.5 s"
        in (job["error"]["message"])
    )
    assert [(a["attempt"], a["outcome"]) for a in job["attempt_history"]] == [(1, "failed")]
    letters = (await client.get("/dead-letters")).json()["items"]
    assert [(letter["id"], letter["error"]["type"]) for letter in letters] == [
        (job_id, "jobs.worker.unavailable.TaskNotAvailable")
    ]


async def test_invalid_arguments_fail_at_once_without_retry(
    conn: Conn, settings: Settings, client: httpx.AsyncClient
) -> None:
    await publish_byot(conn, settings)
    # byot.flaky retries any exception 3 times; SQL cannot validate: the worker does
    job_id = await enqueue_sql(conn, "byot.flaky", '{"url": "", "width": "wide"}')

    async def finished() -> bool:
        return (await job_row(conn, job_id))[0] == "failed"

    await run_worker_until(settings, finished, tasks=byot.REGISTRY, queues=["byot-images"])
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["attempts"] == 1
    assert job["error"]["type"] == "jobs.errors.InvalidArguments"
    assert "'loc': ('url',)" in job["error"]["message"]
    assert "'loc': ('width',)" in job["error"]["message"]
