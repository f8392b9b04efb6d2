"""Turn repository rows into API bodies (one place that knows both shapes)."""

from __future__ import annotations

from api.schemas import (
    Batch,
    BatchCounts,
    DeadLetter,
    Job,
    JobAttempt,
    JobCancellation,
    JobError,
    JobEvent,
    JobProgress,
    JobSummary,
)
from db.types import Row
from jobs.control.actions import JobDetail
from jobs.control.batches import BatchStatus
from jobs.control.enqueue import EnqueuedJob


def _error(row: Row) -> JobError | None:
    if row.get("error_type") is None:
        return None
    return JobError(
        type=row["error_type"],
        message=row.get("error_message") or "",
        traceback=row.get("error_traceback"),
    )


def job(detail: JobDetail) -> Job:
    row = detail.job
    progress = (
        JobProgress(
            percent=row["progress_percent"],
            message=row["progress_message"],
            updated_at=row["progress_updated_at"],
        )
        if row["progress_percent"] is not None
        else None
    )
    cancellation = (
        JobCancellation(
            requested_by=row["cancel_requested_by"], requested_at=row["cancel_requested_at"]
        )
        if row["cancel_requested_at"] is not None
        else None
    )
    return Job(
        id=row["id"],
        task=row["task"],
        args=row["args"],
        queue=row["queue"],
        priority=row["priority"],
        status=row["status"],
        attempts=row["attempts"],
        abort_requested=row["abort_requested"],
        lock=row["lock"],
        queueing_lock=row["queueing_lock"],
        scheduled_at=row["scheduled_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        created_by=row["created_by"],
        batch_id=row["batch_id"],
        time_limit=row["time_limit_seconds"],
        soft_time_limit=row["soft_time_limit_seconds"],
        result=row["result"],
        error=_error(row),
        progress=progress,
        cancellation=cancellation,
        events=[JobEvent(**event) for event in detail.events],
        attempt_history=[
            JobAttempt(
                attempt=attempt["attempt"],
                worker_id=attempt["worker_id"],
                started_at=attempt["started_at"],
                finished_at=attempt["finished_at"],
                outcome=attempt["outcome"],
                error=_error(attempt),
            )
            for attempt in detail.attempts
        ],
    )


def created_job(created: EnqueuedJob) -> Job:
    """The body of a 201: built from what was inserted, without reading the job back."""
    return Job(
        id=created.id,
        task=created.task,
        args=created.args,
        queue=created.queue,
        priority=created.priority,
        status="todo",
        attempts=0,
        abort_requested=False,
        lock=created.lock,
        queueing_lock=created.queueing_lock,
        scheduled_at=created.scheduled_at,
        created_at=created.created_at,
        created_by=created.created_by,
        batch_id=created.batch_id,
        time_limit=created.time_limit,
        soft_time_limit=created.soft_time_limit,
    )


def summary(row: Row) -> JobSummary:
    return JobSummary(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        priority=row["priority"],
        status=row["status"],
        attempts=row["attempts"],
        abort_requested=row["abort_requested"],
        scheduled_at=row["scheduled_at"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        batch_id=row["batch_id"],
        progress_percent=row["progress_percent"],
        error=(
            JobError(type=row["error_type"], message=row["error_message"] or "")
            if row["error_type"]
            else None
        ),
    )


def batch(status: BatchStatus) -> Batch:
    return Batch(
        id=status.id,
        created_at=status.created_at,
        created_by=status.created_by,
        size=status.size,
        counts=BatchCounts(**status.counts, deleted=status.deleted),
        progress_percent=round(status.progress_percent, 2),
        finished=status.finished,
        failed=status.failed,
        status=status.state,
    )


def dead_letter(row: Row) -> DeadLetter:
    return DeadLetter(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        priority=row["priority"],
        args=row["args"],
        attempts=row["attempts"],
        failed_at=row["failed_at"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        batch_id=row["batch_id"],
        error=_error(row),
    )
