"""Priorities and queue routing, with a real in-process worker."""

from __future__ import annotations

from typing import Any

import psycopg

from jobs.settings import Settings
from tests.factories import make_job
from tests.integration.helpers import run_worker_until_idle

Conn = psycopg.AsyncConnection[Any]


async def _start_order(conn: Conn, task: str) -> list[int]:
    """Jobs of ``task`` in the order they started (the worker's periodic jobs left out)."""
    cursor = await conn.execute(
        """SELECT event.job_id FROM procrastinate_events event
             JOIN procrastinate_jobs job ON job.id = event.job_id
            WHERE event.type = 'started' AND job.task_name = %s
            ORDER BY event.id""",
        [task],
    )
    return [row[0] for row in await cursor.fetchall()]


async def test_higher_priority_runs_first_then_older(conn: Conn, settings: Settings) -> None:
    args = {"agent": "a", "objective": "o", "steps": 1}
    low = await make_job(conn, "agents.run", args, priority=-5)
    default_first = await make_job(conn, "agents.run", args)
    urgent = await make_job(conn, "agents.run", args, priority=100)
    default_second = await make_job(conn, "agents.run", args)
    high = await make_job(conn, "agents.run", args, priority=10)
    # created before the worker starts; one slot, so the order is the fetch order
    await run_worker_until_idle(settings, concurrency=1)
    assert await _start_order(conn, "agents.run") == [
        urgent.id,
        high.id,
        default_first.id,
        default_second.id,
        low.id,
    ]


async def test_a_worker_takes_only_its_queues(conn: Conn, settings: Settings) -> None:
    tools = await make_job(conn, "tools.run", {"tool": "t"})
    rerouted = await make_job(conn, "tools.run", {"tool": "t"}, queue="urgent")
    llm = await make_job(conn, "llm.generate", {"prompt": "p"})
    await run_worker_until_idle(settings, queues=["tools", "urgent"])
    assert set(await _start_order(conn, "tools.run")) == {tools.id, rerouted.id}
    assert await _start_order(conn, "llm.generate") == []
    cursor = await conn.execute(
        "SELECT status::text FROM procrastinate_jobs WHERE id = %s", [llm.id]
    )
    assert await cursor.fetchone() == ("todo",)
