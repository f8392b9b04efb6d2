"""Turn repository rows into response bodies: one function per row type, used by the API
and the dashboard alike (templates get these models, never raw rows)."""

from __future__ import annotations

from typing import Literal

from api.schemas import (
    Batch,
    BatchCounts,
    CallbackAttempt,
    CallbackDelivery,
    DeadLetter,
    Job,
    JobAttempt,
    JobCancellation,
    JobError,
    JobEvent,
    JobProgress,
    JobSummary,
    RetryPolicyInfo,
    TaskInfo,
    TaskProcess,
    TaskVersion,
)
from db.callback_store import DeliveryView
from db.catalog_store import CatalogRow
from db.dead_letter_store import DeadLetterRow
from jobs.control.actions import JobDetail
from jobs.control.batches import BatchStatus
from jobs.control.catalog import CatalogTask, TaskCatalog, TaskDirectory
from jobs.control.query import JobSummaryRow
from jobs.monitoring.schedules import PublishedSchedule
from jobs.settings import Settings
from jobs.tasks.catalog import published_task
from jobs.tasks.registry import TaskSpec


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
        callback_url=row.callback_url,
        callbacks=[callback(delivery) for delivery in detail.callbacks],
    )


def callback(delivery: DeliveryView) -> CallbackDelivery:
    """A webhook delivery of a job, with its attempts."""
    if delivery.delivered_at is not None:
        state: Literal["pending", "delivered", "failed"] = "delivered"
    elif delivery.delivery_status == "failed":
        state = "failed"
    else:
        state = "pending"
    return CallbackDelivery(
        job_status=delivery.job_status,
        url=delivery.url,
        idempotency_key=delivery.idempotency_key,
        state=state,
        delivery_job_id=delivery.delivery_job_id,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        attempts=[CallbackAttempt(**attempt) for attempt in delivery.attempts],
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


def tasks(directory: TaskDirectory, settings: Settings) -> list[TaskInfo]:
    """Every known task: the fields of the version this API validates with, then all versions."""
    catalog = directory.catalog
    assert catalog is not None
    published = catalog.snapshot.tasks
    return [_task(directory.get(name), published.get(name), catalog) for name in directory.names()]


def _task(
    definition: TaskSpec | CatalogTask, published: CatalogTask | None, catalog: TaskCatalog
) -> TaskInfo:
    versions = [
        TaskVersion(
            schema_hash=version.schema_hash,
            args_schema=version.newest.args_schema,
            queue=version.newest.queue_name,
            priority=version.newest.priority,
            live=any(catalog.is_live(entry) for entry in version.entries),
            processes=[_process(entry, catalog) for entry in version.entries],
        )
        for version in (published.versions if published is not None else [])
    ]
    live_workers = {
        process.process_id
        for version in versions
        for process in version.processes
        if process.kind == "worker" and process.live
    }
    common = {
        "live_workers": len(live_workers),
        "schema_conflict": len([version for version in versions if version.live]) > 1,
        "versions": versions,
    }
    if isinstance(definition, TaskSpec):
        entry = published_task(definition)
        return TaskInfo(
            name=definition.name,
            queue=definition.queue,
            priority=definition.priority,
            description=definition.description,
            cron=definition.cron,
            retry=RetryPolicyInfo(**entry.retry) if entry.retry is not None else None,
            time_limit=definition.time_limits.hard,
            soft_time_limit=definition.time_limits.soft,
            args_schema=entry.args_schema,
            schema_hash=entry.schema_hash,
            validated_by="model",
            **common,
        )
    current = definition.current
    return TaskInfo(
        name=definition.name,
        queue=current.queue_name,
        priority=current.priority,
        description=current.description,
        cron=current.cron,
        retry=RetryPolicyInfo(**current.retry) if current.retry is not None else None,
        time_limit=current.time_limit_seconds,
        soft_time_limit=current.soft_time_limit_seconds,
        args_schema=current.args_schema,
        schema_hash=current.schema_hash,
        validated_by="schema",
        **common,
    )


def _process(entry: CatalogRow, catalog: TaskCatalog) -> TaskProcess:
    return TaskProcess(
        process_id=entry.process_id,
        kind="worker" if entry.process_kind == "worker" else "api",
        host=entry.host,
        pid=entry.pid,
        worker_queues=entry.worker_queues,
        task_modules=entry.task_modules,
        published_at=entry.published_at,
        last_seen_at=entry.last_seen_at,
        live=catalog.is_live(entry),
    )


def published_schedules(directory: TaskDirectory) -> list[PublishedSchedule]:
    """The cron tasks known only from the task catalog (their current version)."""
    catalog = directory.catalog
    if catalog is None:
        return []
    return [
        PublishedSchedule(
            task=task.name,
            cron=task.current.cron,
            queue=task.current.queue_name,
            priority=task.current.priority,
            description=task.current.description,
        )
        for task in catalog.snapshot.tasks.values()
        if task.current.cron is not None and task.name not in directory.registry
    ]
