"""Turn repository rows into response bodies: one function per row type, used by the API
and the dashboard alike (templates get these models, never raw rows)."""

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
from db.dead_letter_store import DeadLetterRow
from jobs.control.actions import JobDetail
from jobs.control.batches import BatchStatus
from jobs.control.query import JobSummaryRow


def _error(type_: str | None, message: str | None, traceback: str | None = None) -> JobError | None:
    if type_ is None:
        return None
    return JobError(type=type_, message=message or "", traceback=traceback)


def job(detail: JobDetail) -> Job:
    """A job in full: ``GET /jobs/{id}``, the answer of a create, cancel or retry, the job page."""
    row = detail.job
    return Job(
        id=row.id,
        task=row.task,
        args=row.args,
        queue=row.queue,
        priority=row.priority,
        status=row.status,
        attempts=row.attempts,
        abort_requested=row.abort_requested,
        lock=row.lock,
        queueing_lock=row.queueing_lock,
        scheduled_at=row.scheduled_at,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        created_by=row.created_by,
        batch_id=row.batch_id,
        time_limit=row.time_limit,
        soft_time_limit=row.soft_time_limit,
        result=row.result,
        error=_error(row.error_type, row.error_message, row.error_traceback),
        progress=(
            JobProgress(
                percent=row.progress_percent,
                message=row.progress_message,
                updated_at=row.progress_updated_at,
            )
            if row.progress_percent is not None
            else None
        ),
        cancellation=(
            JobCancellation(
                requested_by=row.cancel_requested_by, requested_at=row.cancel_requested_at
            )
            if row.cancel_requested_at is not None
            else None
        ),
        events=[JobEvent(id=event.id, type=event.type, at=event.at) for event in detail.events],
        attempt_history=[
            JobAttempt(
                attempt=attempt.attempt,
                worker_id=attempt.worker_id,
                started_at=attempt.started_at,
                finished_at=attempt.finished_at,
                outcome=attempt.outcome,
                error=_error(attempt.error_type, attempt.error_message, attempt.error_traceback),
            )
            for attempt in detail.attempts
        ],
    )


def summary(row: JobSummaryRow) -> JobSummary:
    """A job in a list: ``GET /jobs`` and the dashboard's job list."""
    return JobSummary(
        id=row.id,
        task=row.task,
        queue=row.queue,
        priority=row.priority,
        status=row.status,
        attempts=row.attempts,
        abort_requested=row.abort_requested,
        scheduled_at=row.scheduled_at,
        created_at=row.created_at,
        created_by=row.created_by,
        batch_id=row.batch_id,
        progress_percent=row.progress_percent,
        error=_error(row.error_type, row.error_message),
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


def dead_letter(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        task=row.task,
        queue=row.queue,
        priority=row.priority,
        args=row.args,
        attempts=row.attempts,
        failed_at=row.failed_at,
        created_at=row.created_at,
        created_by=row.created_by,
        batch_id=row.batch_id,
        error=_error(row.error_type, row.error_message),
    )
