"""Small helpers for integration tests: count rows, run an in-process worker."""

from __future__ import annotations

from typing import Any

import procrastinate
import psycopg

from jobs.engine import build_app
from jobs.settings import Settings


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
