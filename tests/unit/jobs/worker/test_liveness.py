"""The liveness middleware, on real asyncio tasks standing in for procrastinate's job task."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from jobs.worker.liveness import keep_alive, stop_when_status_unsaved


class FakeWorker:
    """The two things the middleware uses of procrastinate's Worker."""

    def __init__(self, heartbeat_interval: float = 0.05) -> None:
        self.worker_id = 7
        self.update_heartbeat_interval = heartbeat_interval
        self.stopped = False
        self.heartbeats = 0
        self.third_heartbeat = asyncio.Event()
        self.app = SimpleNamespace(job_manager=self)

    def stop(self) -> None:
        self.stopped = True

    async def update_heartbeat(self, worker_id: int) -> None:
        assert worker_id == self.worker_id
        self.heartbeats += 1
        if self.heartbeats == 3:
            self.third_heartbeat.set()


CONTEXT: Any = SimpleNamespace(job=SimpleNamespace(id=42))


async def job_task(worker: FakeWorker, *, status_write_fails: bool) -> str:
    """What procrastinate's job task does: middleware around the job, then the status write."""

    async def run_job() -> str:
        return "result"

    result: str = await stop_when_status_unsaved(run_job, CONTEXT, worker)  # type: ignore[arg-type]
    if status_write_fails:
        raise OSError("server closed the connection unexpectedly")
    return result


async def test_a_saved_status_leaves_the_worker_running() -> None:
    worker = FakeWorker()
    assert await asyncio.create_task(job_task(worker, status_write_fails=False)) == "result"
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    assert not worker.stopped


async def test_an_unsaved_status_stops_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    worker = FakeWorker()
    task = asyncio.create_task(job_task(worker, status_write_fails=True))
    with pytest.raises(OSError, match="server closed"):
        await task
    await asyncio.sleep(0)
    assert worker.stopped
    assert "could not save the status of job 42" in caplog.text


async def test_keep_alive_heartbeats_while_jobs_run_once_per_worker_and_stops_after() -> None:
    worker = FakeWorker(heartbeat_interval=0.05)

    async def job_running_three_beats() -> str:
        await worker.third_heartbeat.wait()  # three heartbeat intervals, however slow the machine
        return "done"

    results = await asyncio.gather(
        *(keep_alive(job_running_three_beats, CONTEXT, worker) for _ in range(10))  # type: ignore[arg-type]
    )
    assert results == ["done"] * 10
    beats = worker.heartbeats
    # one loop for the ten jobs: a loop per job would have beaten ten times at the first tick
    assert 3 <= beats < 10
    await asyncio.sleep(0.2)
    assert worker.heartbeats == beats  # stopped with the last job
