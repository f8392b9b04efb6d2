from __future__ import annotations

import asyncio

from jobs.background import BackgroundTask


async def test_start_is_idempotent_and_stop_cancels_quietly() -> None:
    runs = 0
    cancelled = asyncio.Event()

    async def forever() -> None:
        nonlocal runs
        runs += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = BackgroundTask("probe", forever)
    task.start()
    task.start()
    await asyncio.sleep(0)
    assert runs == 1
    assert [t.get_name() for t in asyncio.all_tasks()].count("probe") == 1
    await task.stop()
    assert cancelled.is_set()
    await task.stop()  # a second stop is a no-op
    assert "probe" not in [t.get_name() for t in asyncio.all_tasks()]
