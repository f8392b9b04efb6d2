"""Jobs whose task this worker does not have: never failed silently, put back for another.

procrastinate fails such a job at once (``TaskNotFound``, no attempt, the
reason only in the worker's log), even while another worker that has the task
is running: during a rolling deploy, or with a worker started without the
right ``PGJOBS_TASK_MODULES``, work would be lost. pgjobs' worker instead:

* records the attempt still to come as ``unavailable`` in ``pgjobs_attempts``,
  naming this worker (id, host, pid, task modules) and the missing task, also
  as the job's last error (``GET /jobs/{id}``, the dashboard);
* puts the job back in its queue, not counting an attempt (the task never
  ran, its retry budget is untouched), offered again after a delay that grows
  with the time it has waited (1 s to 60 s), so this worker does not spin on it
  while a worker that has the task picks it up meanwhile;
* fails it with :class:`TaskNotAvailable` once no worker with the
  task took it within ``PGJOBS_TASK_UNAVAILABLE_TIMEOUT_SECONDS`` (from the first
  worker that lacked it): a dead letter with that error, retried by hand once a
  worker has the task.
"""

from __future__ import annotations

import logging
import os
import socket

from procrastinate.job_context import JobContext
from procrastinate.worker import Worker

from db import unavailable_store
from jobs.errors import type_name
from jobs.settings import Settings
from jobs.tasks.context import job_pool

logger = logging.getLogger(__name__)


class TaskNotAvailable(Exception):
    """The error a job fails with when no worker that has its task took it in time.

    Never raised: its name is the ``error_type`` of the unavailable attempts and of
    the job (``jobs.worker.unavailable.TaskNotAvailable``).
    """


#: Bounds of the delay before a job is offered again (a quarter of the time it waited).
MIN_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
ERROR_TYPE = type_name(TaskNotAvailable)


def describe_worker(worker: Worker, settings: Settings) -> str:
    modules = ", ".join(settings.task_modules) or "none"
    return (
        f"worker {worker.worker_id} ({socket.gethostname()} pid {os.getpid()}, "
        f"task modules: {modules})"
    )


async def put_back(context: JobContext, worker: Worker, settings: Settings) -> str | None:
    """Record and requeue (or fail) a job whose task ``worker`` lacks; returns the outcome."""
    job = context.job
    assert job.id is not None
    who = describe_worker(worker, settings)
    timeout = settings.task_unavailable_timeout_seconds
    waiting = (
        f"{who} does not have task {job.task_name!r}: back in queue {job.queue!r} for a "
        f"worker that has it (fails if none takes it within {timeout:g} s)"
    )
    failed = (
        f"no worker that has task {job.task_name!r} took the job within {timeout:g} s "
        f"(PGJOBS_TASK_UNAVAILABLE_TIMEOUT_SECONDS); the last to try was {who}"
    )
    async with job_pool(context).connection() as conn, conn.transaction():
        decision = await unavailable_store.job_unavailable_record(
            conn,
            job_id=job.id,
            worker_id=worker.worker_id,
            error_type=ERROR_TYPE,
            waiting_message=waiting,
            failed_message=failed,
            give_up_after=timeout,
            min_delay=MIN_DELAY_SECONDS,
            max_delay=MAX_DELAY_SECONDS,
        )
        if decision is None:  # no longer ours (cancelled, rescued): nothing to do
            return None
        if decision.outcome == "failed":
            await unavailable_store.job_unavailable_fail(conn, job.id)
        else:
            await unavailable_store.job_unavailable_requeue(conn, job.id, decision.retry_at)
    log = logger.error if decision.outcome == "failed" else logger.warning
    log("job %s: %s", job.id, failed if decision.outcome == "failed" else waiting)
    return decision.outcome
