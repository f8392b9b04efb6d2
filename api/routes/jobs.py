"""/jobs: create, read, list, cancel, retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api import presenters
from api.deps import API_CREATOR, IdempotencyKeyHeader, ServicesDep, answer_created
from api.query_params import JobFilterDep
from api.schemas import Job, JobPage
from jobs.control import actions as control
from jobs.control import enqueue
from jobs.control.enqueue import JobCreate
from jobs.control.query import query_jobs
from jobs.tasks.callback_urls import CallbackPolicy

router = APIRouter(tags=["jobs"])


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "Replay of an Idempotency-Key: the job created the first time."},
        409: {
            "description": "Queueing lock taken (or an identical unique job queued), "
            "or Idempotency-Key reused with another body."
        },
        413: {"description": "Body over the size limit."},
        422: {"description": "Unknown task, invalid arguments or options."},
    },
)
async def create_job(
    body: JobCreate,
    response: Response,
    services: ServicesDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Job:
    """Create a job. The job, its pgjobs record and its idempotency key are one statement.

    The task is one this API imports (validated by its pydantic model) or one a worker
    published in the task catalog (validated against the published JSON Schema).
    """
    async with services.pool.connection() as conn:
        created = await enqueue.create_job(
            conn,
            body,
            created_by=API_CREATOR,
            idempotency_key=idempotency_key,
            idempotency_ttl_seconds=services.settings.idempotency_ttl_seconds,
            tasks=services.directory,
            callbacks=CallbackPolicy.from_settings(services.settings),
        )
    answer_created(response, f"/jobs/{created.detail.job.id}", replayed=created.replayed)
    return presenters.job(created.detail)


@router.get("/jobs/{job_id}", responses={404: {"description": "No such job."}})
async def get_job(job_id: int, services: ServicesDep) -> Job:
    """A job with its status, result or error, progress, attempts and event timeline."""
    async with services.pool.connection() as conn:
        return presenters.job(await control.get_job(conn, job_id))


@router.get("/jobs", responses={422: {"description": "Bad filter or cursor."}})
async def list_jobs(
    services: ServicesDep,
    page: JobFilterDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> JobPage:
    """Jobs newest first, filtered, keyset-paginated with ``cursor``.

    A page examines at most 10,000 jobs below its cursor: with a rare filter it may come
    back short (even empty) with a ``next_cursor``: follow it to search older jobs.
    """
    settings = services.settings
    page_size = min(limit or settings.default_page_size, settings.max_page_size)
    async with services.pool.connection() as conn:
        found = await query_jobs(conn, page.job_filter, cursor=page.cursor, limit=page_size)
    return JobPage(
        items=[presenters.summary(row) for row in found.rows], next_cursor=found.next_cursor
    )


@router.post(
    "/jobs/{job_id}/cancel",
    responses={404: {"description": "No such job."}, 409: {"description": "Already finished."}},
)
async def cancel_job(job_id: int, services: ServicesDep) -> Job:
    """Cancel a queued job (todo -> cancelled) or ask the worker running it to abort."""
    async with services.pool.connection() as conn:
        async with conn.transaction():
            await control.cancel_job(conn, job_id, requested_by=API_CREATOR)
        return presenters.job(await control.get_job(conn, job_id))


@router.post(
    "/jobs/{job_id}/retry",
    responses={404: {"description": "No such job."}, 409: {"description": "Not failed/cancelled."}},
)
async def retry_job(job_id: int, services: ServicesDep) -> Job:
    """Put a failed, cancelled or aborted job back in its queue."""
    async with services.pool.connection() as conn:
        async with conn.transaction():
            await control.retry_job(conn, job_id)
        return presenters.job(await control.get_job(conn, job_id))
