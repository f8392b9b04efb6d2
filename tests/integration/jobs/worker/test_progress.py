"""Progress reported by a task reaches LISTENers of its versioned channel."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg

from harness.conditions import DEFAULT_TIMEOUT
from jobs.settings import Settings
from tests.factories import make_job
from tests.integration.helpers import run_worker_until_idle

Conn = psycopg.AsyncConnection[Any]


async def test_progress_is_notified_on_its_channel(conn: Conn, settings: Settings) -> None:
    await conn.execute("LISTEN pgjobs_progress_v1")
    job = await make_job(conn, "llm.generate", {"prompt": "one two", "max_tokens": 2})

    async def collect() -> list[dict[str, Any]]:
        received = []
        async for notify in conn.notifies(timeout=DEFAULT_TIMEOUT, stop_after=2):
            received.append(json.loads(notify.payload))
        return received

    listening = asyncio.create_task(collect())
    await run_worker_until_idle(settings)
    assert await listening == [
        {"job_id": job.id, "percent": 50, "message": "1 tokens"},
        {"job_id": job.id, "percent": 100, "message": "2 tokens"},
    ]
