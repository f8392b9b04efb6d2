"""docs/migrating-from-celery.md: every "after" block is a file, included verbatim, and runs."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from jobs.settings import Settings
from scripts.render_guide import GUIDE, INCLUDE, ROOT, block
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]
EXAMPLES = ROOT / "docs" / "examples"
SNIPPETS = EXAMPLES / "celery_migration"


def snippet(name: str) -> ModuleType:
    """Import an "after" file as the task module it is (registering its tasks)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(f"celery_migration.{name}")


def test_the_guide_includes_every_snippet_verbatim() -> None:
    text = GUIDE.read_text()
    included = [match["path"] for match in INCLUDE.finditer(text)]
    files = sorted(
        str(path.relative_to(ROOT)) for path in SNIPPETS.glob("*.py") if path.name != "__init__.py"
    )
    assert sorted(included) == files
    for path in included:
        assert block(path) in text, f"{path} differs: run scripts/render_guide.py"


async def job_status(conn: Conn, job_id: int) -> str:
    cursor = await conn.execute(
        "SELECT status::text FROM procrastinate_jobs WHERE id = %s", [job_id]
    )
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


def until_status(conn: Conn, job_id: int, *statuses: str) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return await job_status(conn, job_id) in statuses

    return done


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(database_url, min_size=1, max_size=3, open=False) as opened:
        yield opened


def asgi(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


async def test_llm_service(
    pool: AsyncConnectionPool[Any], conn: Conn, settings: Settings, client: httpx.AsyncClient
) -> None:
    llm = snippet("llm_service")
    service = FastAPI()
    service.include_router(llm.routes(pool))
    async with asgi(service) as http:
        started = await http.post("/generate", json={"prompt": "a b", "max_tokens": 8})
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    await run_worker_until(settings, until_status(conn, job_id, "succeeded"), queues=["llm"])
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["result"] == {"text": "a b a b a b a b", "truncated": False}
    assert job["progress"]["message"] == "8 tokens"


async def test_video_pipeline_is_cancelled_while_running(
    conn: Conn, settings: Settings, client: httpx.AsyncClient
) -> None:
    snippet("video_pipeline")
    created = await client.post(
        "/jobs",
        json={
            "task": "guide.video.transcode",
            "args": {"video_url": "s3://b/a.mov", "segments": 500, "seconds_per_segment": 0.02},
        },
    )
    job_id = created.json()["id"]
    cancelled = False

    async def aborted() -> bool:
        nonlocal cancelled
        status = await job_status(conn, job_id)
        if status == "doing" and not cancelled:
            cancelled = (await client.post(f"/jobs/{job_id}/cancel")).status_code == 200
        return status == "aborted"

    await run_worker_until(settings, aborted, queues=["video"], abort_job_polling_interval=0.1)
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["cancellation"]["requested_by"] == "api"
    assert 0 < job["progress"]["percent"] < 100
    assert job["attempt_history"][0]["outcome"] == "aborted"


async def test_tool_runs_retry_and_are_scheduled(
    conn: Conn, settings: Settings, client: httpx.AsyncClient
) -> None:
    snippet("tool_runs")
    created = await client.post(
        "/jobs", json={"task": "guide.tools.run", "args": {"tool": "grep", "busy_attempts": 2}}
    )
    job_id = created.json()["id"]
    assert created.json()["queue"] == "tools"
    await run_worker_until(settings, until_status(conn, job_id, "succeeded"), queues=["tools"])
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["result"] == {"tool": "grep", "attempt": 3, "echo": {}}
    assert [attempt["outcome"] for attempt in job["attempt_history"]] == [
        "failed",
        "failed",
        "succeeded",
    ]
    # an API started with the module loaded (as PGJOBS_TASK_MODULES would) lists the schedule
    api = create_app(settings)
    async with api.router.lifespan_context(api), asgi(api) as http:
        schedules = {item["task"]: item for item in (await http.get("/schedules")).json()}
    assert schedules["guide.tools.refresh_index"]["cron"] == "0 * * * *"
    assert schedules["guide.tools.refresh_index"]["queue"] == "tools-maintenance"


async def test_agent_batches(conn: Conn, settings: Settings, client: httpx.AsyncClient) -> None:
    batches = snippet("agent_batches")
    batch_id = await batches.submit(client, ["triage", "summarise", "reply"])

    async def finished() -> bool:
        return bool((await batches.progress(client, batch_id))["finished"])

    await run_worker_until(settings, finished, queues=["agents"])
    assert await batches.progress(client, batch_id) == {
        "counts": {
            "todo": 0, "doing": 0, "succeeded": 3, "failed": 0, "cancelled": 0, "aborted": 0,
            "deleted": 0,
        },
        "progress_percent": 100.0,
        "finished": True,
        "status": "succeeded",
    }  # fmt: skip


async def test_background_tasks_become_durable_jobs(
    pool: AsyncConnectionPool[Any], conn: Conn, settings: Settings
) -> None:
    scenes = snippet("background_tasks")
    await conn.execute("CREATE TABLE scenes (id serial PRIMARY KEY, title text, status text)")
    service = FastAPI()
    service.include_router(scenes.routes(pool))
    async with asgi(service) as http:
        created = (await http.post("/scenes", params={"title": "intro"})).json()
    # the web process could die now: the job is a committed row, run whenever a worker can
    cursor = await conn.execute("SELECT status FROM scenes WHERE id = %s", [created["scene_id"]])
    assert await cursor.fetchone() == ("queued",)
    await run_worker_until(
        settings, until_status(conn, created["job_id"], "succeeded"), queues=["render"]
    )
    cursor = await conn.execute("SELECT status FROM scenes WHERE id = %s", [created["scene_id"]])
    assert await cursor.fetchone() == ("done",)
