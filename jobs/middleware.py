"""Worker middleware: record each attempt's outcome (result or error) in pgjobs' tables.

It wraps every job on the worker's event loop (sync and async tasks alike),
so plain ``procrastinate --app=jobs.app worker`` processes record results with
no extra code: ``jobs.app`` installs it through ``worker_defaults``.
The outcome is written before procrastinate marks the job finished, in one
statement; a crash between the two leaves a job that the stalled-job rescue
runs again (at-least-once), never a finished job without its result.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import traceback
from typing import Any

from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.job_context import JobContext
from procrastinate.middleware import AsyncCallNext
from procrastinate.worker import Worker

from db import job_store
from jobs.context import LOOP_KEY, job_pool

logger = logging.getLogger(__name__)


def error_type_name(error: BaseException) -> str:
    kind = type(error)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


async def record_outcome(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Run the job, then store its result or error as one attempt."""
    context.additional_context[LOOP_KEY] = asyncio.get_running_loop()
    job = context.job
    assert job.id is not None
    base = functools.partial(
        job_store.AttemptOutcome,
        job_id=job.id,
        attempt=job.attempts + 1,
        worker_id=worker.worker_id,
        started_at=datetime.datetime.fromtimestamp(context.start_timestamp, datetime.UTC),
    )
    try:
        result = await call_next()
    except BaseException as error:
        aborted = isinstance(error, procrastinate_exceptions.JobAborted | asyncio.CancelledError)
        outcome = base(
            outcome="aborted" if aborted else "failed",
            error_type=error_type_name(error),
            error_message=str(error) or ("aborted" if aborted else ""),
            error_traceback="".join(traceback.format_exception(error)),
        )
        # Shielded: an aborted job's task is being cancelled, the record must still land.
        try:
            await asyncio.shield(_save(context, outcome))
        except Exception:
            logger.exception("could not record the failure of job %s", job.id)
        raise
    await asyncio.shield(_save(context, base(outcome="succeeded", result=result)))
    return result


async def _save(context: JobContext, outcome: job_store.AttemptOutcome) -> None:
    async with job_pool(context).connection() as conn:
        await job_store.attempt_record(conn, outcome)
