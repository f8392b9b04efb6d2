"""/jobs: create, read, list, cancel, retry."""

from __future__ import annotations

import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel

from api import presenters
from api.deps import Services, ServicesDep
from api.schemas import Job, JobCreate, JobPage, JobStatus
from db.idempotency_store import KeyClaim
from jobs.control import actions as control
from jobs.control import idempotency
from jobs.control.enqueue import EnqueuedJob, JobRequest, defer_prepared, prepare

router = APIRouter(tags=["jobs"])

#: Who the API records as a job's creator until API keys name the caller.
API_CREATOR = "api"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Send the request again with the same key to get the same answer, "
        "never a second creation. Keys expire after PGJOBS_IDEMPOTENCY_TTL_SECONDS.",
    ),
]


def job_request(body: JobCreate) -> JobRequest:
    """The job a ``POST /jobs`` body, or one item of a ``POST /batches`` body, asks for."""
    return JobRequest(
        task=body.task,
        args=body.args,
        queue=body.queue,
        priority=body.priority,
        schedule_at=body.schedule_at,
        schedule_in=body.schedule_in,
        lock=body.lock,
        queueing_lock=body.queueing_lock,
        unique=body.unique,
        time_limit=body.time_limit,
        soft_time_limit=body.soft_time_limit,
    )


def idempotency_claim(
    services: Services, key: str | None, endpoint: str, body: BaseModel
) -> KeyClaim | None:
    """The claim of an ``Idempotency-Key`` header, scoped to the caller; None without one."""
    if key is None:
        return None
    return idempotency.claim(
        scope=API_CREATOR,
        key=key,
        endpoint=endpoint,
        body=body.model_dump(mode="json", exclude_defaults=True),
        ttl_seconds=services.settings.idempotency_ttl_seconds,
    )


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
    """Create a job. The job, its pgjobs record and its idempotency key are one statement."""
    new_job = prepare(job_request(body), tasks=services.tasks)
    key = idempotency_claim(services, idempotency_key, "POST /jobs", body)
    async with services.pool.connection() as conn:

        async def insert() -> EnqueuedJob:
            (created,) = await defer_prepared(
                conn, [new_job], created_by=API_CREATOR, idempotency=key
            )
            return created

        outcome = await idempotency.create_once(conn, key, insert)
        if isinstance(outcome, idempotency.Replay):
            assert outcome.job_id is not None, "the fingerprint names the endpoint: a job key"
            detail = await control.get_job(conn, outcome.job_id)
            response.status_code = status.HTTP_200_OK
            response.headers["Location"] = f"/jobs/{outcome.job_id}"
            return presenters.job(detail)
    response.headers["Location"] = f"/jobs/{outcome.id}"
    return presenters.created_job(outcome)


@router.get("/jobs/{job_id}", responses={404: {"description": "No such job."}})
async def get_job(job_id: int, services: ServicesDep) -> Job:
    """A job with its status, result or error, progress, attempts and event timeline."""
    async with services.pool.connection() as conn:
        return presenters.job(await control.get_job(conn, job_id))


@router.get("/jobs")
async def list_jobs(
    services: ServicesDep,
    status_: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
    task: Annotated[str | None, Query(max_length=128)] = None,
    queue: Annotated[str | None, Query(max_length=128)] = None,
    created_after: datetime.datetime | None = None,
    created_before: datetime.datetime | None = None,
    cursor: Annotated[
        int | None, Query(ge=1, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> JobPage:
    """Jobs newest first, filtered, keyset-paginated with ``cursor``."""
    settings = services.settings
    page_size = min(limit or settings.default_page_size, settings.max_page_size)
    async with services.pool.connection() as conn:
        rows, next_cursor = await control.list_jobs(
            conn,
            limit=page_size,
            before_id=cursor,
            statuses=status_,
            task=task,
            queue=queue,
            created_after=created_after,
            created_before=created_before,
        )
    return JobPage(items=[presenters.summary(row) for row in rows], next_cursor=next_cursor)


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
