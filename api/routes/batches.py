"""/batches: create up to 10,000 jobs in one call (one statement), and follow them as a group."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from api import presenters
from api.deps import API_CREATOR, IdempotencyKeyHeader, ServicesDep, answer_created
from api.schemas import Batch, BatchCreated
from jobs.control import batches
from jobs.control.batches import BatchCreate
from jobs.tasks.callback_urls import CallbackPolicy

router = APIRouter(tags=["batches"])


@router.post(
    "/batches",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "Replay of an Idempotency-Key: the batch created the first time."},
        409: {"description": "A queueing lock is taken, or Idempotency-Key reused."},
        413: {"description": "Body over PGJOBS_MAX_BATCH_BODY_BYTES."},
        422: {"description": "Invalid jobs, each error at body.jobs.<index>...; none created."},
    },
)
async def create_batch(
    body: BatchCreate,
    response: Response,
    services: ServicesDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> BatchCreated:
    """Create all the jobs, or none: the batch and its jobs are one statement, one round trip."""
    async with services.pool.connection() as conn:
        created = await batches.create_batch(
            conn,
            body,
            created_by=API_CREATOR,
            idempotency_key=idempotency_key,
            idempotency_ttl_seconds=services.settings.idempotency_ttl_seconds,
            tasks=services.directory,
            callbacks=CallbackPolicy.from_settings(services.settings),
        )
    answer_created(response, f"/batches/{created.id}", replayed=created.replayed)
    return BatchCreated(
        id=created.id, size=created.size, job_ids=created.job_ids, created_at=created.created_at
    )


@router.get("/batches/{batch_id}", responses={404: {"description": "No such batch."}})
async def get_batch(batch_id: uuid.UUID, services: ServicesDep) -> Batch:
    """Counts by status, progress (mean of the jobs', finished ones counting 100), and state."""
    async with services.pool.connection() as conn:
        return presenters.batch(await batches.get_batch(conn, batch_id))
