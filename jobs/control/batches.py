"""Batches: up to 10,000 jobs created by one call, in one statement, and followed as a group.

Every job of a batch is validated before anything is written; one bad job
rejects the whole batch with the index of each bad job (:class:`BatchRejected`).
The batch row and all its jobs are then one ``job_defer_many`` statement: one
round trip, one transaction, committed together or not at all.

A batch's progress is the mean of its jobs' progress, a finished job counting
100 whatever its own percent; the batch is finished when none of its jobs is
queued or running, and failed as soon as one of them failed for good.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from db import batch_store, job_store
from db.types import ACTIVE_STATUSES, Connection, JobStatus
from jobs.control import idempotency
from jobs.control.catalog import TaskDirectory
from jobs.control.enqueue import (
    JobCreate,
    TaskLookup,
    check_callbacks,
    defer_prepared,
    prepare,
)
from jobs.errors import BatchNotFound, BatchRejected, InvalidJobOptions, JobsError
from jobs.tasks.callback_urls import CallbackPolicy
from jobs.tasks.registry import TaskRegistry, registry

#: Most jobs one batch may hold: one statement of this size takes well under a second.
MAX_BATCH_SIZE = 10_000
#: What an Idempotency-Key's fingerprint names a batch creation by (see CREATE_JOB_ENDPOINT).
CREATE_BATCH_ENDPOINT = "POST /batches"

BatchState = Literal["running", "succeeded", "failed", "cancelled"]


class BatchCreate(BaseModel):
    """Create up to 10,000 jobs in one call: all of them, or none if one is invalid."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobCreate] = Field(
        min_length=1,
        max_length=MAX_BATCH_SIZE,
        description="The jobs, each like the body of POST /jobs; ids come back in this order.",
    )


@dataclass(frozen=True, slots=True)
class CreatedBatch:
    id: uuid.UUID
    #: Ids of the batch's jobs, in the order of the request's items (on a replay: those
    #: still in the database).
    job_ids: list[int]
    created_at: datetime.datetime
    size: int
    #: The batch an Idempotency-Key created the first time, not a new one.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class BatchStatus:
    id: uuid.UUID
    created_at: datetime.datetime
    created_by: str | None
    size: int
    #: Jobs of the batch by status; every status is present.
    counts: dict[JobStatus, int]
    #: Jobs deleted since the batch was created (retention deletes finished jobs only).
    deleted: int
    #: Mean of the jobs' progress, finished (and deleted) jobs counting 100.
    progress_percent: float

    @property
    def finished(self) -> bool:
        """No job of the batch is queued or running any more."""
        return self.counts[JobStatus.TODO] + self.counts[JobStatus.DOING] == 0

    @property
    def failed(self) -> bool:
        """At least one job failed for good (retries exhausted) or was aborted."""
        return self.counts[JobStatus.FAILED] + self.counts[JobStatus.ABORTED] > 0

    @property
    def state(self) -> BatchState:
        if not self.finished:
            return "running"
        if self.failed:
            return "failed"
        if self.counts[JobStatus.CANCELLED]:
            return "cancelled"
        return "succeeded"


def prepare_batch(
    requests: Sequence[JobCreate], *, tasks: TaskLookup = registry
) -> list[job_store.NewJob]:
    """Validate every job of a batch; raises :class:`BatchRejected` naming each bad one.

    Two jobs of one batch with the same queueing lock (or two identical unique
    jobs) are refused here, by index: procrastinate would refuse the second one
    anyway, and the whole batch with it, without saying which.
    """
    if not 1 <= len(requests) <= MAX_BATCH_SIZE:
        raise InvalidJobOptions("jobs", f"a batch holds 1 to {MAX_BATCH_SIZE} jobs")
    errors: list[tuple[int, JobsError]] = []
    new_jobs: list[job_store.NewJob] = []
    first_with_lock: dict[str, int] = {}
    for index, request in enumerate(requests):
        try:
            new_job = prepare(request, tasks=tasks)
        except JobsError as error:  # UnknownTask, InvalidArguments, InvalidJobOptions
            errors.append((index, error))
            continue
        if new_job.queueing_lock is not None:
            first = first_with_lock.setdefault(new_job.queueing_lock, index)
            if first != index:
                field = "unique" if request.unique else "queueing_lock"
                message = f"job {first} of this batch has the same queueing lock"
                errors.append((index, InvalidJobOptions(field, message)))
        new_jobs.append(new_job)
    if errors:
        raise BatchRejected(errors, size=len(requests))
    return new_jobs


async def create_batch(
    conn: Connection,
    request: BatchCreate,
    *,
    created_by: str | None,
    idempotency_key: str | None = None,
    idempotency_ttl_seconds: float | None = None,
    tasks: TaskRegistry | TaskDirectory = registry,
    callbacks: CallbackPolicy | None = None,
) -> CreatedBatch:
    """Validate, then create the batch and all its jobs in one statement (no commit).

    With an ``idempotency_key`` the key is looked up first, so replaying a big
    batch costs one indexed read instead of inserting 10,000 jobs only to roll
    them back; the create statement still claims the key, which settles races.
    Keys are scoped to ``created_by``, as for :func:`~jobs.control.enqueue.create_job`.
    """
    if isinstance(tasks, TaskDirectory):  # tasks known only from the catalog: read it if needed
        await tasks.ensure(conn, {job.task for job in request.jobs})
    new_jobs = prepare_batch(request.jobs, tasks=tasks)
    if callbacks is not None:
        await check_callbacks(new_jobs, callbacks, batch=True)
    key = idempotency.claim_for(
        idempotency_key,
        scope=created_by,
        endpoint=CREATE_BATCH_ENDPOINT,
        request=request,
        ttl_seconds=idempotency_ttl_seconds,
    )
    if key is not None and (replay := await idempotency.find_replay(conn, key)) is not None:
        return await _replayed(conn, replay)
    batch_id = uuid.uuid4()

    async def insert() -> CreatedBatch:
        created = await defer_prepared(
            conn, new_jobs, created_by=created_by, batch_id=batch_id, idempotency=key
        )
        created_at = created[0].created_at
        assert created_at is not None, "a job created by pgjobs has its record"
        return CreatedBatch(
            id=batch_id,
            job_ids=[job.id for job in created],
            created_at=created_at,
            size=len(created),
        )

    outcome = await idempotency.create_once(conn, key, insert)
    if isinstance(outcome, idempotency.Replay):
        return await _replayed(conn, outcome)
    return outcome


async def _replayed(conn: Connection, replay: idempotency.Replay) -> CreatedBatch:
    assert replay.batch_id is not None, "the fingerprint names the endpoint: a batch key"
    batch = await get_batch(conn, replay.batch_id)
    return CreatedBatch(
        id=batch.id,
        job_ids=await batch_store.batch_job_ids(conn, batch.id),
        created_at=batch.created_at,
        size=batch.size,
        replayed=True,
    )


async def get_batch(conn: Connection, batch_id: uuid.UUID) -> BatchStatus:
    row = await batch_store.batch_get(conn, batch_id)
    if row is None:
        raise BatchNotFound(batch_id)
    counts = dict.fromkeys(JobStatus, 0) | {
        JobStatus(status): n for status, n in row.counts.items()
    }
    active = sum(counts[status] for status in ACTIVE_STATUSES)
    active_progress = sum(row.progress.get(status, 0.0) for status in ACTIVE_STATUSES)
    return BatchStatus(
        id=row.id,
        created_at=row.created_at,
        created_by=row.created_by,
        size=row.size,
        counts=counts,
        deleted=row.size - sum(counts.values()),
        # finished and deleted jobs count 100 whatever their own percent
        progress_percent=(active_progress + 100.0 * (row.size - active)) / row.size,
    )
