"""Request and response bodies of the HTTP API (published in the OpenAPI document)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

JobStatus = Literal["todo", "doing", "succeeded", "failed", "cancelled", "aborted"]


class JobCreate(BaseModel):
    """Create one job: a task name, its arguments, and optional placement and timing."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(
        min_length=1, max_length=128, description="Registered task name (GET /tasks)."
    )
    args: dict[str, Any] = Field(default_factory=dict, description="Validated by the task's model.")
    queue: str | None = Field(default=None, description="Overrides the task's default queue.")
    priority: int | None = Field(default=None, description="Higher runs first; -1000..1000.")
    schedule_at: AwareDatetime | None = Field(default=None, description="Run no earlier than this.")
    schedule_in: float | None = Field(default=None, description="Run no earlier than in N seconds.")
    lock: str | None = Field(
        default=None, max_length=200, description="Jobs sharing a lock never run at the same time."
    )
    queueing_lock: str | None = Field(
        default=None,
        max_length=200,
        description="At most one queued job per queueing lock (else 409).",
    )


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
    result: Any = None
    error: JobError | None = None
    progress: JobProgress | None = None
    cancellation: JobCancellation | None = None
    events: list[JobEvent] = Field(default_factory=list)
    attempt_history: list[JobAttempt] = Field(default_factory=list)


class JobPage(BaseModel):
    items: list[JobSummary]
    next_cursor: int | None = Field(description="Pass as ?cursor= for the next (older) page.")


class TaskInfo(BaseModel):
    name: str
    queue: str
    priority: int
    description: str
    cron: str | None
    args_schema: dict[str, Any]


class DatabaseHealth(BaseModel):
    reachable: bool
    revision: str | None = None
    expected_revision: str
    at_head: bool = False
    error: str | None = None


class WorkersHealth(BaseModel):
    alive: int
    ids: list[int]


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    problems: list[str]
    database: DatabaseHealth
    workers: WorkersHealth
