"""A worker is alive exactly while it can still finish the jobs it holds.

The stalled-job rescue retries the running jobs of any worker whose heartbeat
is stale, so the heartbeat must mean "this process is still running these
jobs". Two worker middlewares keep it honest where procrastinate alone does not:

* :func:`keep_alive` heartbeats while a job runs. procrastinate heartbeats from
  a side task that it cancels the moment a stop is requested, then waits up to
  the shutdown grace period for running jobs: without this, a worker finishing
  long jobs after SIGTERM would look dead and the rescuer would start the same
  jobs elsewhere while they still run.
* :func:`stop_when_status_unsaved` stops the worker when procrastinate could not
  write a finished job's status (the connection died under it). procrastinate
  only logs that and carries on, which would leave the job ``doing`` forever on
  a worker that heartbeats. Stopping unregisters the worker (or lets its
  heartbeat go stale when the database is still away), the rescue then closes
  the job, and the supervisor (``pgjobs worker``) or the container's restart
  policy starts a fresh worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from typing import Any

from procrastinate.job_context import JobContext
from procrastinate.middleware import AsyncCallNext
from procrastinate.worker import Worker

logger = logging.getLogger(__name__)


async def keep_alive(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Heartbeat the worker every ``update_heartbeat_interval`` seconds while the job runs."""
    beat = _heartbeats.setdefault(worker, _Heartbeat(worker))
    beat.job_started()
    try:
        return await call_next()
    finally:
        await beat.job_ended()


class _Heartbeat:
    """One heartbeat loop per worker, running while any of its jobs runs.

    One, not one per job: a worker running 100 jobs at once must not update its
    row 100 times per interval (each update waits for the previous one's row lock).
    """

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._running_jobs = 0
        self._loop: asyncio.Task[None] | None = None

    def job_started(self) -> None:
        self._running_jobs += 1
        if self._loop is None:
            self._loop = asyncio.create_task(self._beat(), name="pgjobs heartbeat")

    async def job_ended(self) -> None:
        self._running_jobs -= 1
        if self._running_jobs or self._loop is None:
            return
        loop, self._loop = self._loop, None  # a job starting meanwhile starts a new loop
        loop.cancel()
        # wait() neither raises the loop's CancelledError nor swallows one aimed at us
        await asyncio.wait([loop])

    async def _beat(self) -> None:
        worker = self._worker
        while True:
            await asyncio.sleep(worker.update_heartbeat_interval)
            if worker.worker_id is None:
                continue
            try:
                await worker.app.job_manager.update_heartbeat(worker.worker_id)
            except Exception as error:  # the jobs go on; a stale heartbeat is the signal
                logger.warning("heartbeat of worker %s failed: %s", worker.worker_id, error)


_heartbeats: weakref.WeakKeyDictionary[Worker, _Heartbeat] = weakref.WeakKeyDictionary()


async def stop_when_status_unsaved(
    call_next: AsyncCallNext, context: JobContext, worker: Worker
) -> Any:
    """Stop the worker if the status of this job cannot be saved once it has run."""
    # Middleware runs inside procrastinate's job task, whose last step (after every
    # middleware returned) writes the job's status: that step raising is the only way
    # the task itself ends in an exception.
    job_task = asyncio.current_task()
    assert job_task is not None
    job_task.add_done_callback(functools.partial(_stop_if_unsaved, worker, context.job.id))
    return await call_next()


def _stop_if_unsaved(worker: Worker, job_id: int | None, job_task: asyncio.Task[Any]) -> None:
    if job_task.cancelled():
        return  # cancelled while procrastinate awaited the (shielded) status write
    error = job_task.exception()
    if error is None:
        return
    logger.error(
        "could not save the status of job %s (%s: %s); stopping worker %s so that the "
        "job is rescued and a fresh worker takes its place",
        job_id,
        type(error).__name__,
        error,
        worker.worker_id,
        exc_info=error,
    )
    worker.stop()  # type: ignore[no-untyped-call]
