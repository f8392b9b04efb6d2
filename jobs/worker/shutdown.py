"""Graceful shutdown: jobs a stopping worker had to abort go back to their queue.

On SIGTERM a procrastinate worker stops fetching, gives running jobs
``shutdown_graceful_timeout`` seconds (``PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS``)
to finish, then aborts the rest with ``AbortReason.SHUTDOWN``. procrastinate
retries such a job only if its task's retry strategy says so; otherwise it
ends ``aborted``, a final state, and the work is silently dropped. pgjobs
makes the outcome independent of the task's policy:

* :func:`requeue_on_shutdown` (worker middleware) turns the abort of a
  shutdown into :class:`~jobs.tasks.retry.WorkerShutdown`;
* :class:`~jobs.tasks.retry.ShutdownRetry`, wrapped around every task's retry
  strategy by :func:`install`, always retries a :class:`WorkerShutdown` at once, so the job
  is back in ``todo`` (``deferred_for_retry`` event, attempt recorded
  ``aborted``) for another worker, and delegates anything else to the task's own
  strategy.
"""

from __future__ import annotations

import asyncio
from typing import Any

import procrastinate
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason, JobContext
from procrastinate.middleware import AsyncCallNext
from procrastinate.worker import Worker

from jobs.tasks.retry import ShutdownRetry, WorkerShutdown


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


def install(app: procrastinate.App) -> None:
    """Wrap every task's retry strategy in :class:`ShutdownRetry` (idempotent)."""
    for task in app.tasks.values():
        if not isinstance(task.retry_strategy, ShutdownRetry):
            task.retry_strategy = ShutdownRetry(task.retry_strategy)
