"""What a running task sees of its job: ids, stop requests, time left, progress reporting.

``TaskContext`` is handed to async tasks, ``SyncTaskContext`` to plain ``def``
tasks (which run in a worker thread): the sync one reports progress by
scheduling the write on the worker's event loop and waiting for it, so the
database write happens on the worker's own pool, never on a second one.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, cast

from procrastinate.exceptions import JobAborted
from procrastinate.job_context import JobContext
from procrastinate.psycopg_connector import PsycopgConnector

from db import job_store
from db.types import Pool

#: Key under which the worker middleware leaves its event loop in ``additional_context``.
LOOP_KEY = "pgjobs.loop"
#: Key of the running attempt's clock (:class:`jobs.worker.clock.JobClock`) there.
CLOCK_KEY = "pgjobs.clock"
#: Key of the worker's :class:`~jobs.settings.Settings` there (jobs/worker/options.py).
SETTINGS_KEY = "pgjobs.settings"
#: Seconds a sync task waits for its progress write before giving up on it.
SYNC_PROGRESS_TIMEOUT = 10.0


def job_pool(context: JobContext) -> Pool:
    """The pool of the app running this job (the worker's, or the API's shared pool)."""
    connector = cast(PsycopgConnector, context.app.connector)
    return cast(Pool, connector.pool)


class AttemptClock(Protocol):
    """What a task's context reads of its attempt's clock (the worker's ``JobClock``)."""

    @property
    def stop_requested(self) -> bool: ...
    @property
    def soft_limit_reached(self) -> bool: ...
    @property
    def hard_limit_reached(self) -> bool: ...
    def time_left(self) -> float | None: ...
    def hard_limit_error(self) -> Exception: ...
    def soft_limit_error(self) -> Exception: ...


def job_clock(context: JobContext) -> AttemptClock | None:
    """The running attempt's time limits (None outside pgjobs' worker middleware)."""
    return cast(AttemptClock | None, context.additional_context.get(CLOCK_KEY))


class _BaseContext:
    def __init__(self, context: JobContext) -> None:
        self.procrastinate = context

    @property
    def job_id(self) -> int:
        assert self.procrastinate.job.id is not None
        return self.procrastinate.job.id

    @property
    def attempt(self) -> int:
        """1 for the first run, 2 for the first retry, ..."""
        return self.procrastinate.job.attempts + 1

    @property
    def queue(self) -> str:
        return self.procrastinate.job.queue

    @property
    def task_name(self) -> str:
        return self.procrastinate.job.task_name

    def should_stop(self) -> bool:
        """True once the job should stop: an abort was requested, the worker is shutting
        down, or the soft (or hard) time limit has passed.

        Long sync tasks must check it between steps (or call :meth:`stop_if_requested`);
        async tasks are interrupted instead (cancelled, or ``SoftTimeLimitExceeded``).
        """
        clock = job_clock(self.procrastinate)
        return self.procrastinate.should_abort() or (clock is not None and clock.stop_requested)

    def stop_if_requested(self) -> None:
        """Raise what :meth:`should_stop` means, for tasks that stop by raising.

        ``JobAborted`` for an abort or shutdown (the job ends ``aborted``),
        ``TimeLimitExceeded`` past the hard limit, ``SoftTimeLimitExceeded`` past
        the soft one (both end the attempt ``failed``, retried if the policy says so).
        """
        if self.procrastinate.should_abort():
            raise JobAborted("stop requested (abort or worker shutdown)")
        clock = job_clock(self.procrastinate)
        if clock is not None and clock.hard_limit_reached:
            raise clock.hard_limit_error()
        if clock is not None and clock.soft_limit_reached:
            raise clock.soft_limit_error()

    def time_left(self) -> float | None:
        """Seconds until the soft time limit (then the hard one); None when there is none."""
        clock = job_clock(self.procrastinate)
        return None if clock is None else clock.time_left()

    async def _save_progress(self, percent: float, message: str | None) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"progress percent must be within 0..100, got {percent}")
        async with job_pool(self.procrastinate).connection() as conn:
            await job_store.progress_save(conn, self.job_id, percent=percent, message=message)


class TaskContext(_BaseContext):
    """Context of an async task."""

    async def progress(self, percent: float, message: str | None = None) -> None:
        """Store the job's progress (0-100) and notify live listeners."""
        await self._save_progress(percent, message)


class SyncTaskContext(_BaseContext):
    """Context of a sync task (running in a worker thread)."""

    def progress(self, percent: float, message: str | None = None) -> None:
        """Store the job's progress (0-100) and notify live listeners; blocks until written.

        Past the hard time limit the attempt has already failed and its thread is
        abandoned: this raises ``TimeLimitExceeded`` so the task stops there.
        """
        clock = job_clock(self.procrastinate)
        if clock is not None and clock.hard_limit_reached:
            raise clock.hard_limit_error()
        loop = cast(asyncio.AbstractEventLoop | None, self._additional.get(LOOP_KEY))
        if loop is None:
            raise RuntimeError("progress() needs the pgjobs worker middleware (jobs.app:app)")
        future = asyncio.run_coroutine_threadsafe(self._save_progress(percent, message), loop)
        future.result(timeout=SYNC_PROGRESS_TIMEOUT)

    @property
    def _additional(self) -> dict[str, Any]:
        return self.procrastinate.additional_context
