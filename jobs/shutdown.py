"""Graceful shutdown: jobs a stopping worker had to abort go back to their queue.

On SIGTERM a procrastinate worker stops fetching, gives running jobs
``shutdown_graceful_timeout`` seconds (``PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS``)
to finish, then aborts the rest with ``AbortReason.SHUTDOWN``. procrastinate
retries such a job only if its task's retry strategy says so; otherwise it
ends ``aborted``, a final state, and the work is silently dropped. pgjobs
makes the outcome independent of the task's policy:

* :func:`requeue_on_shutdown` (worker middleware) turns the abort of a
  shutdown into :class:`WorkerShutdown`;
* :class:`ShutdownRetry`, wrapped around every task's retry strategy by
  :func:`install`, always retries a :class:`WorkerShutdown` at once, so the job
  is back in ``todo`` (``deferred_for_retry`` event, attempt recorded
  ``aborted``) for another worker, and delegates anything else to the task's own
  strategy.
"""

from __future__ import annotations

import asyncio
from typing import Any

import procrastinate
from procrastinate.exceptions import JobAborted, JobRetry
from procrastinate.job_context import AbortReason, JobContext
from procrastinate.jobs import Job
from procrastinate.middleware import AsyncCallNext
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.worker import Worker


class WorkerShutdown(JobAborted):
    """The worker running this attempt shut down before it finished; the job runs again."""


async def requeue_on_shutdown(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Report an abort caused by the worker's shutdown as :class:`WorkerShutdown`."""
    try:
        return await call_next()
    except (JobAborted, asyncio.CancelledError) as error:
        if isinstance(error, WorkerShutdown) or context.abort_reason() is not AbortReason.SHUTDOWN:
            raise
        # Replacing the CancelledError ends the cancellation procrastinate asked for
        # on purpose: its job task then persists the outcome, which is all it awaits.
        raise WorkerShutdown(
            f"worker {worker.worker_id} shut down before the job finished "
            f"(grace period {worker.shutdown_graceful_timeout} s)"
        ) from error


class ShutdownRetry(BaseRetryStrategy):
    """A task's retry strategy, plus "a shutdown is always retried, at once".

    ``inner`` is the task's own strategy (None when it has none); everything
    but :class:`WorkerShutdown` is its decision.
    """

    def __init__(self, inner: BaseRetryStrategy | None) -> None:
        self.inner = inner

    def get_retry_exception(self, exception: BaseException, job: Job) -> JobRetry | None:
        if isinstance(exception, WorkerShutdown):
            return JobRetry(RetryDecision())
        if self.inner is None:
            return None
        retry: JobRetry | None = self.inner.get_retry_exception(exception=exception, job=job)
        return retry


def task_retry_strategy(task: procrastinate.tasks.Task[Any, Any, Any]) -> BaseRetryStrategy | None:
    """The task's own retry strategy, seen through :class:`ShutdownRetry`."""
    strategy = task.retry_strategy
    if isinstance(strategy, ShutdownRetry):
        return strategy.inner
    return strategy


def install(app: procrastinate.App) -> None:
    """Wrap every task's retry strategy in :class:`ShutdownRetry` (idempotent)."""
    for task in app.tasks.values():
        if not isinstance(task.retry_strategy, ShutdownRetry):
            task.retry_strategy = ShutdownRetry(task.retry_strategy)
