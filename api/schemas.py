"""Response bodies of the HTTP API, and the request bodies that are the API's alone."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from db.types import JobStatus
from jobs.control.batches import MAX_BATCH_SIZE

# The request bodies of POST /jobs and POST /batches are the use cases' own models:
# jobs.control.enqueue.JobCreate and jobs.control.batches.BatchCreate.


class JobError(BaseModel):
    type: str
    message: str
    traceback: str | None = None


class JobProgress(BaseModel):
    percent: float
    message: str | None = None
    updated_at: datetime.datetime | None = None


class JobEvent(BaseModel):
    id: int
    type: str
    at: datetime.datetime | None


class JobAttempt(BaseModel):
    attempt: int
    worker_id: int | None
    started_at: datetime.datetime
    finished_at: datetime.datetime
    outcome: str
    error: JobError | None = None


class JobCancellation(BaseModel):
    requested_by: str | None
    requested_at: datetime.datetime | None


class JobSummary(BaseModel):
    id: int
    task: str
    queue: str
    priority: int
    status: JobStatus
    attempts: int
    abort_requested: bool
    scheduled_at: datetime.datetime | None
    created_at: datetime.datetime | None
    created_by: str | None
    batch_id: uuid.UUID | None = None
    progress_percent: float | None = None
    error: JobError | None = None


class CallbackAttempt(BaseModel):
    attempt: int
    sent_at: datetime.datetime
    status_code: int | None = Field(description="null: no answer (timeout, refused, ...).")
    latency_ms: float
    error: str | None = None


class CallbackDelivery(BaseModel):
    """One webhook: sent for one final state of the job, retried until a 2xx."""

    job_status: str = Field(description="The final state it reports.")
    url: str
    idempotency_key: str = Field(description="Sent as Idempotency-Key on every attempt.")
    state: Literal["pending", "delivered", "failed"] = Field(
        description="failed: undeliverable, a dead letter (its delivery job is failed)."
    )
    delivery_job_id: int = Field(description="The pgjobs.deliver_callback job sending it.")
    created_at: datetime.datetime
    delivered_at: datetime.datetime | None = None
    attempts: list[CallbackAttempt] = Field(default_factory=list)


class Job(BaseModel):
    """A job with everything known about it."""

    id: int
    task: str
    args: dict[str, Any]
    queue: str
    priority: int
    status: JobStatus
    attempts: int = Field(description="Finished attempts (procrastinate's counter).")
    abort_requested: bool
    lock: str | None
    queueing_lock: str | None
    scheduled_at: datetime.datetime | None
    created_at: datetime.datetime | None
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    created_by: str | None
    batch_id: uuid.UUID | None = None
    time_limit: float | None = Field(
        default=None, description="The job's own hard time limit (null: the task's default)."
    )
    soft_time_limit: float | None = Field(
        default=None, description="The job's own soft time limit (null: the task's default)."
    )
    result: Any = None
    error: JobError | None = None
    progress: JobProgress | None = None
    cancellation: JobCancellation | None = None
    events: list[JobEvent] = Field(default_factory=list)
    attempt_history: list[JobAttempt] = Field(default_factory=list)
    callback_url: str | None = None
    callbacks: list[CallbackDelivery] = Field(
        default_factory=list, description="Its completion webhooks and their attempts."
    )


class JobPage(BaseModel):
    items: list[JobSummary]
    next_cursor: int | None = Field(description="Pass as ?cursor= for the next (older) page.")


class RetryPolicyInfo(BaseModel):
    max_attempts: int = Field(description="Runs in total, the first included.")
    backoff: Literal["exponential", "linear", "constant"]
    initial_delay: float
    multiplier: float
    max_delay: float
    jitter: float
    retry_on: list[str] = Field(description="Exception types retried.")
    never_retry: list[str]


class TaskProcess(BaseModel):
    """A process that published a task: where that version of its code runs."""

    process_id: uuid.UUID
    kind: Literal["worker", "api"]
    host: str
    pid: int
    worker_queues: list[str] | None = Field(description="Queues it takes (null: all; or API).")
    task_modules: list[str]
    published_at: datetime.datetime
    last_seen_at: datetime.datetime
    live: bool = Field(description="Seen within 3 catalog refresh intervals.")


class TaskVersion(BaseModel):
    """One version of a task's code, told apart by the hash of its arguments' schema."""

    schema_hash: str
    args_schema: dict[str, Any]
    queue: str
    priority: int
    live: bool = Field(description="At least one process running this version is live.")
    processes: list[TaskProcess]


class TaskInfo(BaseModel):
    name: str
    queue: str
    priority: int
    description: str
    cron: str | None
    retry: RetryPolicyInfo | None = Field(description="null: a failure is final.")
    time_limit: float | None = Field(description="Default hard limit per attempt, seconds.")
    soft_time_limit: float | None = Field(description="Default soft limit per attempt, seconds.")
    args_schema: dict[str, Any]
    schema_hash: str
    validated_by: Literal["model", "schema"] = Field(
        description="model: this API imports the task and validates with its pydantic model; "
        "schema: it validates against the JSON Schema the task's workers published."
    )
    live_workers: int = Field(description="Live worker processes that have this task.")
    schema_conflict: bool = Field(
        description="Live processes publish different argument schemas for this task "
        "(a rolling deploy, or a worker left on old code): see versions."
    )
    versions: list[TaskVersion] = Field(
        description="Each published version of the task, most recently seen first."
    )


class DatabaseHealth(BaseModel):
    reachable: bool
    revision: str | None = None
    expected_revision: str
    at_head: bool = False
    error: str | None = None


class WorkersHealth(BaseModel):
    alive: int
    ids: list[int]


class QueueHealth(BaseModel):
    runnable: int = Field(description="Jobs that could run now.")
    oldest_seconds: float = Field(description="Age of the oldest of them (queue lag).")
    ok: bool = Field(description="False when a queue of PGJOBS_READY_QUEUES lags too much.")


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    problems: list[str]
    database: DatabaseHealth
    workers: WorkersHealth
    queues: dict[str, QueueHealth] = Field(default_factory=dict)
    live_events: bool = Field(default=False, description="The LISTEN connection is up.")
    checked_at: datetime.datetime | None = Field(
        default=None, description="When these checks ran (GET /health reports the last run)."
    )


class BatchCreated(BaseModel):
    id: uuid.UUID
    size: int
    job_ids: list[int] = Field(description="Ids of the created jobs, in the order submitted.")
    created_at: datetime.datetime


class BatchCounts(BaseModel):
    todo: int
    doing: int
    succeeded: int
    failed: int
    cancelled: int
    aborted: int
    deleted: int = Field(description="Jobs deleted since (retention deletes finished jobs).")


class Batch(BaseModel):
    """A batch and how far along its jobs are."""

    id: uuid.UUID
    created_at: datetime.datetime
    created_by: str | None
    size: int
    counts: BatchCounts
    progress_percent: float = Field(
        description="Mean of the jobs' progress; a finished job counts 100."
    )
    finished: bool = Field(description="No job of the batch is queued or running.")
    failed: bool = Field(description="At least one job failed for good or was aborted.")
    status: Literal["running", "succeeded", "failed", "cancelled"]


class DeadLetter(BaseModel):
    """A job that exhausted its retries, with its last error."""

    id: int
    task: str
    queue: str
    priority: int
    args: dict[str, Any]
    attempts: int
    failed_at: datetime.datetime
    created_at: datetime.datetime | None
    created_by: str | None
    batch_id: uuid.UUID | None = None
    error: JobError | None = None


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page.")


class DeadLetterRetry(BaseModel):
    """Which dead letters to put back in their queues.

    ``scope`` is required: ``"matching"`` retries what the filters match and
    needs at least one filter; ``"all"`` retries every dead letter and takes none.
    """

    model_config = ConfigDict(extra="forbid")

    scope: Literal["matching", "all"]
    ids: list[int] | None = Field(default=None, min_length=1, max_length=MAX_BATCH_SIZE)
    task: str | None = Field(default=None, max_length=128)
    queue: str | None = Field(default=None, max_length=128)
    error_type: str | None = Field(default=None, max_length=500)
    failed_after: AwareDatetime | None = Field(default=None, description="Failed at or after.")
    failed_before: AwareDatetime | None = Field(default=None, description="Failed before.")
    dry_run: bool = Field(default=False, description="Count what would be retried; change none.")


class DeadLetterRetried(BaseModel):
    matched: int = Field(description="Dead letters the filters matched.")
    retried: int = Field(description="Put back in their queues (on a dry run: would be).")
    skipped: int = Field(
        description="Matched but left failed: a queued job holds their queueing lock."
    )
    dry_run: bool


class ScheduleLastRun(BaseModel):
    tick: datetime.datetime = Field(description="The cron tick a worker deferred last.")
    job_id: int | None = Field(description="Its job (null once the job was deleted).")
    status: JobStatus | None


class Schedule(BaseModel):
    """A periodic task: its cron, where its jobs go, when it runs next and what it ran last."""

    task: str
    periodic_id: str
    cron: str = Field(description="5 fields, or 6 with seconds last; evaluated in UTC.")
    queue: str
    priority: int
    description: str
    next_runs: list[datetime.datetime]
    last_run: ScheduleLastRun | None
