"""/batches: create up to 10,000 jobs in one call (one statement), and follow them as a group."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from api import presenters
from api.deps import ServicesDep
from api.routes.jobs import API_CREATOR, IdempotencyKeyHeader, idempotency_claim, job_request
from api.schemas import Batch, BatchCreate, BatchCreated
from jobs.control import batches
from jobs.control.idempotency import Replay

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
    requests = [job_request(item) for item in body.jobs]
    key = idempotency_claim(services, idempotency_key, "POST /batches", body)
    async with services.pool.connection() as conn:
        outcome = await batches.create_batch(
            conn, requests, created_by=API_CREATOR, key=key, tasks=services.tasks
        )
        if isinstance(outcome, Replay):
            assert outcome.batch_id is not None, "the fingerprint names the endpoint: a batch key"
            batch = await batches.get_batch(conn, outcome.batch_id)
            job_ids = await batches.batch_job_ids(conn, outcome.batch_id)
            response.status_code = status.HTTP_200_OK
            response.headers["Location"] = f"/batches/{batch.id}"
            return BatchCreated(
                id=batch.id, size=batch.size, job_ids=job_ids, created_at=batch.created_at
            )
    response.headers["Location"] = f"/batches/{outcome.id}"
    return BatchCreated(
        id=outcome.id,
        size=len(outcome.job_ids),
        job_ids=outcome.job_ids,
        created_at=outcome.created_at,
    )


@router.get("/batches/{batch_id}", responses={404: {"description": "No such batch."}})
async def get_batch(batch_id: uuid.UUID, services: ServicesDep) -> Batch:
    """Counts by status, progress (mean of the jobs', finished ones counting 100), and state."""
    async with services.pool.connection() as conn:
        return presenters.batch(await batches.get_batch(conn, batch_id))
