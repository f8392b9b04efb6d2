"""/jobs: create, read, list, cancel, retry."""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from api import presenters
from api.deps import ServicesDep
from api.schemas import Job, JobCreate, JobPage, JobStatus
from db import job_store
from jobs import control
from jobs.enqueue import JobRequest, defer_prepared, prepare
from jobs.errors import IdempotencyKeyReused

router = APIRouter(tags=["jobs"])

#: Who the API records as a job's creator until API keys name the caller.
API_CREATOR = "api"


def request_fingerprint(body: JobCreate) -> str:
    """sha256 of the request's canonical JSON: equal bodies, equal fingerprints."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "Replay of an Idempotency-Key: the job created the first time."},
        409: {"description": "Queueing lock taken, or Idempotency-Key reused with another body."},
        413: {"description": "Body over the size limit."},
        422: {"description": "Unknown task, invalid arguments or options."},
    },
)
async def create_job(
    body: JobCreate,
    response: Response,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Job:
    """Create a job. The job and its pgjobs record are one statement in one transaction."""
    fingerprint = request_fingerprint(body) if idempotency_key else None
    new_job = prepare(
        JobRequest(
            task=body.task,
            args=body.args,
            queue=body.queue,
            priority=body.priority,
            schedule_at=body.schedule_at,
            schedule_in=body.schedule_in,
            lock=body.lock,
            queueing_lock=body.queueing_lock,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
        ),
        tasks=services.tasks,
    )
    try:
        async with services.pool.connection() as conn:
            (created,) = await defer_prepared(conn, [new_job], created_by=API_CREATOR)
    except job_store.IdempotencyKeyTaken:
        assert idempotency_key is not None
        return await _replay(services, idempotency_key, fingerprint, response)
    response.headers["Location"] = f"/jobs/{created.id}"
    return presenters.created_job(created)


async def _replay(
    services: ServicesDep, key: str, fingerprint: str | None, response: Response
) -> Job:
    async with services.pool.connection() as conn:
        original = await job_store.job_get_by_idempotency_key(conn, key)
        # None: the first job was deleted between our insert and this read (retention).
        if original is None or original["request_fingerprint"] != fingerprint:
            raise IdempotencyKeyReused(key)
        detail = await control.get_job(conn, original["id"])
    response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/jobs/{original['id']}"
    return presenters.job(detail)


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
