"""Worker middleware: time limits, and each attempt's outcome (result or error) reported.

Both wrap every job on the worker's event loop (sync and async tasks alike),
so plain ``procrastinate --app=jobs.app worker`` processes apply them with no
extra code: ``jobs.app`` installs them through ``worker_defaults``, recording
outermost so it sees the time-limit errors.
The outcome is handed to the worker's job manager (:mod:`jobs.worker.job_manager`),
which writes it together with procrastinate's status change, in one statement
shared with other jobs' completions: a crash before it is written leaves a job
that the stalled-job rescue runs again (at-least-once), never a finished job
without its result.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.job_context import JobContext
from procrastinate.middleware import AsyncCallNext
from procrastinate.worker import Worker

from jobs.errors import UnknownTask, type_name
from jobs.settings import Settings
from jobs.tasks.context import CLOCK_KEY, LOOP_KEY, SETTINGS_KEY
from jobs.tasks.registry import TaskRegistry
from jobs.tasks.time_limits import TimeLimits
from jobs.worker.clock import JobClock
from jobs.worker.job_manager import AttemptReport, job_manager_of
from jobs.worker.outcome_size import OutcomeLimits
from jobs.worker.threads import AbandonedThreads

logger = logging.getLogger(__name__)


async def record_outcome(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Run the job, then report its result or error; the job manager stores the attempt."""
    context.additional_context[LOOP_KEY] = asyncio.get_running_loop()
    job_id = context.job.id
    assert job_id is not None
    manager = job_manager_of(worker)
    started_at = datetime.datetime.fromtimestamp(context.start_timestamp, datetime.UTC)
    limits = outcome_limits(context)
    try:
        result = await call_next()
        # an oversized result, or one Postgres refuses (NaN), fails its own attempt, never
        # the batch of completions it would be written with (outcome_size.py)
        limits.check_result(result)
    except BaseException as error:
        aborted = isinstance(error, procrastinate_exceptions.JobAborted | asyncio.CancelledError)
        manager.report_attempt(
            job_id,
            AttemptReport(
                started_at=started_at,
                outcome="aborted" if aborted else "failed",
                error_type=type_name(type(error)),
                error_message=limits.cut_message(str(error) or ("aborted" if aborted else "")),
                error_traceback=limits.cut_traceback("".join(traceback.format_exception(error))),
            ),
        )
        raise
    manager.report_attempt(
        job_id, AttemptReport(started_at=started_at, outcome="succeeded", result=result)
    )
    return result


def outcome_limits(context: JobContext) -> OutcomeLimits:
    """The size limits of the worker's settings (their defaults when it has none)."""
    settings = context.additional_context.get(SETTINGS_KEY)
    if isinstance(settings, Settings):
        return OutcomeLimits.from_settings(settings)
    return OutcomeLimits(
        max_result_bytes=Settings.model_fields["max_result_bytes"].default,
        max_error_bytes=Settings.model_fields["max_error_bytes"].default,
    )


class EnforceTimeLimits:
    """Worker middleware: run each attempt under its :class:`~jobs.tasks.time_limits.JobClock`.

    At the start of an attempt it takes the job's own limits (claimed with the
    job by the job manager) over its task's defaults and starts the clock; a cancellation
    caused by the hard limit leaves as ``TimeLimitExceeded`` (``failed``, so the
    retry policy decides), not as an abort. When a sync task's thread had to be
    abandoned, it counts the worker's abandoned threads still running and stops
    the worker at ``max_abandoned_threads()`` so its supervisor starts a fresh one.
    """

    def __init__(self, tasks: TaskRegistry, *, max_abandoned_threads: Callable[[], int]) -> None:
        self._tasks = tasks
        self._max_abandoned_threads = max_abandoned_threads
        self._abandoned: weakref.WeakKeyDictionary[Worker, AbandonedThreads] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
        job_id = context.job.id
        assert job_id is not None
        time_limit, soft_time_limit = job_manager_of(worker).time_limits(job_id)
        try:
            spec = self._tasks.get(context.job.task_name)
        except UnknownTask:  # procrastinate's builtin tasks: no pgjobs limits
            return await call_next()
        limits: TimeLimits = spec.time_limits.override(time_limit, soft_time_limit)
        task = asyncio.current_task()
        assert task is not None
        clock = JobClock(limits, task, interrupt_soft=spec.is_async)
        context.additional_context[CLOCK_KEY] = clock
        clock.start()
        try:
            result = await call_next()
        except asyncio.CancelledError as cancelled:
            if clock.hard_limit_reached:
                raise self._hard_limit_error(clock) from cancelled
            raise
        finally:
            clock.stop()
            if clock.abandoned_thread is not None:
                self._count_abandoned(worker, clock)
        if clock.hard_limit_reached:
            # The task swallowed the cancellation and returned anyway: hard means hard.
            raise self._hard_limit_error(clock)
        return result

    @staticmethod
    def _hard_limit_error(clock: JobClock) -> BaseException:
        error = clock.hard_limit_error()
        if clock.abandoned_thread is not None:
            error.add_note(
                "The task's thread could not be stopped and was abandoned here:\n"
                + clock.abandoned_thread.stack
            )
        return error

    def _count_abandoned(self, worker: Worker, clock: JobClock) -> None:
        assert clock.abandoned_thread is not None
        alive = self._abandoned.setdefault(worker, AbandonedThreads()).add(clock.abandoned_thread)
        limit = self._max_abandoned_threads()
        logger.warning(
            "job %s: its sync task ran past its hard time limit; its thread is abandoned "
            "(%s of %s this worker tolerates are still running)",
            clock.abandoned_thread.job_id,
            alive,
            limit,
        )
        if alive >= limit:
            logger.error(
                "stopping the worker: %s abandoned task threads are still running; "
                "restart it (its supervisor should) to reclaim them",
                alive,
            )
            worker.stop()  # type: ignore[no-untyped-call]
