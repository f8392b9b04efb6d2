"""Small helpers for integration tests: count rows, run an in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
import psycopg

from harness.conditions import DEFAULT_TIMEOUT
from jobs.settings import Settings
from jobs.tasks.registry import TaskRegistry
from jobs.worker.app import build_app


async def count(conn: psycopg.AsyncConnection[Any], table: str) -> int:
    """Rows in one of the job tables (names are fixed in tests, never user input)."""
    assert table in {"procrastinate_jobs", "pgjobs_jobs", "pgjobs_attempts", "procrastinate_events"}
    cursor = await conn.execute(f"SELECT count(*) FROM {table}")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def run_worker_until_idle(settings: Settings, **options: Any) -> procrastinate.App:
    """Run a real procrastinate worker in-process until no job is left (``wait=False``)."""
    app = build_app(settings)
    async with app.open_async():
        await app.run_worker_async(
            wait=False, install_signal_handlers=False, listen_notify=False, **options
        )
    return app


async def run_worker_until(
    settings: Settings,
    done: Callable[[], Awaitable[bool]],
    *,
    deadline_seconds: float = DEFAULT_TIMEOUT,
    tasks: TaskRegistry | None = None,
    **options: Any,
) -> procrastinate.App:
    """Run a real worker in-process (polling every 0.1 s, so retries and schedules come due
    promptly) until ``done()`` is true; fails after the deadline or if the worker stops first."""
    app = build_app(settings) if tasks is None else build_app(settings, tasks=tasks)
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                install_signal_handlers=False,
                fetch_job_polling_interval=0.1,
                **{"listen_notify": False, **options},
            )
        )
        try:
            deadline = time.monotonic() + deadline_seconds
            while not await done():
                assert not worker.done(), "the worker stopped before the condition held"
                assert time.monotonic() < deadline, f"not done after {deadline_seconds} s"
                await asyncio.sleep(0.05)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
    return app
