"""Time limits: validated at creation, stored per job, enforced by a real in-process worker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import BaseModel

from harness.conditions import DEFAULT_TIMEOUT
from jobs.control.enqueue import enqueue
from jobs.settings import Settings
from jobs.tasks.context import SyncTaskContext, TaskContext
from jobs.tasks.registry import TaskRegistry
from jobs.tasks.retry import RetryPolicy
from jobs.tasks.time_limits import TimeLimitExceeded
from jobs.worker.app import build_app
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]
FINAL = ("succeeded", "failed", "cancelled", "aborted")


class Sleep(BaseModel):
    seconds: float


controls = TaskRegistry()
#: Holds the stuck sync task until the test lets it go.
release = threading.Event()


@controls.task(
    name="controls.sleep",
    args=Sleep,
    retry=RetryPolicy(max_attempts=2, initial_delay=0, retry_on=(TimeLimitExceeded,)),
)
async def sleep(ctx: TaskContext, args: Sleep) -> str:
    await asyncio.sleep(args.seconds)
    return "slept"


@controls.task(name="controls.stuck", args=Sleep)
def stuck(ctx: SyncTaskContext, args: Sleep) -> str:
    """Ignores every stop request: only ``release`` (or its timeout) ends it."""
    release.wait(args.seconds)
    return "unstuck"


@controls.task(name="controls.polite", args=Sleep, soft_time_limit=0.3, time_limit=10)
def polite(ctx: SyncTaskContext, args: Sleep) -> dict[str, Any]:
    """Works in small steps until told to stop, then returns how far it got."""
    time_left_at_start = ctx.time_left()
    steps = 0
    while not ctx.should_stop() and steps * 0.01 < args.seconds:
        release.wait(0.01)
        steps += 1
    return {"time_left_at_start": time_left_at_start, "stopped": ctx.should_stop()}


@pytest.fixture(autouse=True)
def _release_stuck_threads() -> Iterator[None]:
    release.clear()
    yield
    release.set()


async def _get(client: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    job: dict[str, Any] = (await client.get(f"/jobs/{job_id}")).json()
    return job


def _finished(client: httpx.AsyncClient, *job_ids: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        statuses = [(await _get(client, job_id))["status"] for job_id in job_ids]
        return all(status in FINAL for status in statuses)

    return check


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"time_limit": 0}, "time_limit"),
        ({"time_limit": -5}, "time_limit"),
        ({"soft_time_limit": 0}, "soft_time_limit"),
        ({"time_limit": 5, "soft_time_limit": 10}, "soft_time_limit"),
        # llm.generate's own hard limit is 600 s
        ({"soft_time_limit": 700}, "soft_time_limit"),
        # ... and its own soft limit 540 s: a shorter hard limit needs a soft one too
        ({"time_limit": 60}, "time_limit"),
        ({"time_limit": "soon"}, "time_limit"),
    ],
)
async def test_bad_time_limits_are_422_naming_the_field(
    client: httpx.AsyncClient, conn: Conn, options: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/jobs", json={"task": "llm.generate", "args": {"prompt": "hi"}, **options}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    cursor = await conn.execute("SELECT count(*) FROM procrastinate_jobs")
    assert await cursor.fetchone() == (0,)


async def test_a_jobs_own_limits_are_stored_and_shown(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    created = await client.post(
        "/jobs",
        json={
            "task": "llm.generate",
            "args": {"prompt": "hi"},
            "time_limit": 30,
            "soft_time_limit": 20.5,
        },
    )
    assert created.status_code == 201, created.text
    assert (created.json()["time_limit"], created.json()["soft_time_limit"]) == (30, 20.5)
    job = await _get(client, created.json()["id"])
    assert (job["time_limit"], job["soft_time_limit"]) == (30, 20.5)
    cursor = await conn.execute(
        "SELECT time_limit_seconds, soft_time_limit_seconds FROM pgjobs_jobs WHERE job_id = %s",
        [job["id"]],
    )
    assert await cursor.fetchone() == (30, 20.5)
    default = (await client.post("/jobs", json={"task": "tools.run", "args": {"tool": "t"}})).json()
    assert (default["time_limit"], default["soft_time_limit"]) == (None, None)


async def test_async_hard_limit_fails_the_attempt_and_the_policy_retries_it(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    job = await enqueue(conn, "controls.sleep", {"seconds": 30}, time_limit=0.3, tasks=controls)
    await run_worker_until(settings, _finished(client, job.id), tasks=controls)
    body = await _get(client, job.id)
    assert body["status"] == "failed"
    assert body["attempts"] == 2
    assert body["error"]["type"] == "jobs.tasks.time_limits.TimeLimitExceeded"
    assert body["error"]["message"] == "the attempt exceeded its time limit of 0.3 s"
    # the traceback shows where the task was when it was stopped
    assert "await asyncio.sleep(args.seconds)" in body["error"]["traceback"]
    for attempt in body["attempt_history"]:
        assert attempt["outcome"] == "failed"


async def test_async_soft_limit_lets_the_task_return_what_it_has(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = await client.post(
        "/jobs",
        json={
            "task": "llm.generate",
            "args": {"prompt": "slow words", "max_tokens": 1000, "seconds_per_token": 0.01},
            "soft_time_limit": 0.3,
            "time_limit": 10,
        },
    )
    job_id = created.json()["id"]
    await run_worker_until(settings, _finished(client, job_id))
    job = await _get(client, job_id)
    assert job["status"] == "succeeded"
    assert job["result"]["truncated"] is True
    assert 0 < job["result"]["tokens"] < 1000


async def test_unhandled_async_soft_limit_fails_the_attempt(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    job = await enqueue(
        conn, "controls.sleep", {"seconds": 30}, soft_time_limit=0.2, tasks=controls
    )
    await run_worker_until(settings, _finished(client, job.id), tasks=controls)
    body = await _get(client, job.id)
    assert body["status"] == "failed"
    assert body["attempts"] == 1  # the policy retries TimeLimitExceeded only
    assert body["error"]["type"] == "jobs.tasks.time_limits.SoftTimeLimitExceeded"


async def test_sync_soft_limit_is_seen_through_should_stop(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    job = await enqueue(conn, "controls.polite", {"seconds": 30}, tasks=controls)
    await run_worker_until(settings, _finished(client, job.id), tasks=controls)
    body = await _get(client, job.id)
    assert body["status"] == "succeeded"
    assert body["result"]["stopped"] is True
    assert 0.2 < body["result"]["time_left_at_start"] <= 0.3


async def test_sync_soft_limit_stops_video_transcode(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = await client.post(
        "/jobs",
        json={
            "task": "video.transcode",
            "args": {"video_url": "s3://b/long.mov", "duration_seconds": 20, "segments": 400},
            "soft_time_limit": 0.3,
            "time_limit": 10,
        },
    )
    job_id = created.json()["id"]
    await run_worker_until(settings, _finished(client, job_id))
    job = await _get(client, job_id)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "jobs.tasks.time_limits.SoftTimeLimitExceeded"
    assert 0 < job["progress"]["percent"] < 100


async def test_stuck_sync_task_fails_at_its_hard_limit_and_frees_its_slot(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    stuck_job = await enqueue(
        conn, "controls.stuck", {"seconds": 60}, time_limit=0.3, tasks=controls
    )
    later = await enqueue(conn, "controls.sleep", {"seconds": 0}, tasks=controls)
    # one slot: the later job can only run once the stuck one has given it up
    await run_worker_until(
        settings, _finished(client, stuck_job.id, later.id), tasks=controls, concurrency=1
    )
    abandoned = [
        thread for thread in threading.enumerate() if thread.name.endswith(f"-{stuck_job.id}")
    ]
    assert abandoned, "the stuck thread should still be running, abandoned"
    stuck_body = await _get(client, stuck_job.id)
    assert stuck_body["status"] == "failed"
    assert stuck_body["error"]["type"] == "jobs.tasks.time_limits.TimeLimitExceeded"
    assert "thread could not be stopped and was abandoned here" in stuck_body["error"]["traceback"]
    assert "release.wait(args.seconds)" in stuck_body["error"]["traceback"]
    assert (await _get(client, later.id))["status"] == "succeeded"
    release.set()
    abandoned[0].join(timeout=DEFAULT_TIMEOUT)
    assert not abandoned[0].is_alive()


async def test_worker_stops_itself_when_abandoned_threads_pile_up(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    strict = settings.model_copy(update={"worker_max_abandoned_threads": 1})
    stuck_job = await enqueue(
        conn, "controls.stuck", {"seconds": 60}, time_limit=0.2, tasks=controls
    )
    app = build_app(strict, tasks=controls)
    async with app.open_async():
        # wait=True: only the worker itself can end this call
        await asyncio.wait_for(
            app.run_worker_async(install_signal_handlers=False, listen_notify=False),
            timeout=DEFAULT_TIMEOUT,
        )
    body = await _get(client, stuck_job.id)
    assert body["status"] == "failed"
    assert body["error"]["type"] == "jobs.tasks.time_limits.TimeLimitExceeded"
