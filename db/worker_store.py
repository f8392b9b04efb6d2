"""The worker engine's statements: claim a batch of jobs, complete a batch of attempts.

Both are single statements on an autocommit connection, so each is one round
trip and one commit however many jobs it carries (the SQL functions are in
migration ``pgjobs_0011``; the statements in ``db/sql/worker.sql``).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from db.queries import query
from db.rows import fetch_all
from db.types import Connection

#: What an attempt's outcome does to its job: finish it in a final status, or retry it.
JobStatusChange = Literal["succeeded", "failed", "aborted", "todo"]
#: How an attempt ended, as pgjobs_attempts records it.
AttemptResult = Literal["succeeded", "failed", "aborted"]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job claimed for a worker: procrastinate's columns plus its own time limits."""

    id: int
    queue_name: str
    task_name: str
    priority: int
    lock: str | None
    queueing_lock: str | None
    args: dict[str, Any]
    status: str
    scheduled_at: datetime.datetime | None
    attempts: int
    abort_requested: bool
    worker_id: int | None
    #: The job's own hard/soft time limits in seconds (None: its task's defaults).
    time_limit_seconds: float | None
    soft_time_limit_seconds: float | None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt produced and what it does to its job, as one completion writes it."""

    job_id: int
    #: The attempt's number: the job's ``attempts`` + 1 when it was claimed.
    attempt: int
    #: The job's new status ('todo' retries it).
    status: JobStatusChange
    #: The attempt's own outcome, recorded in pgjobs_attempts with the result or error
    #: (None: the worker middleware saw no attempt, e.g. an unknown task; nothing recorded).
    outcome: AttemptResult | None = None
    started_at: datetime.datetime | None = None
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    #: A retry's changes (None keeps the job's own value).
    retry_at: datetime.datetime | None = None
    priority: int | None = None
    queue: str | None = None
    lock: str | None = None
    #: Finish by deleting the job (procrastinate's ``delete_jobs`` worker option).
    delete_job: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "attempt": self.attempt,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "outcome": self.outcome,
            "status": self.status,
            "result": self.result,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "error_traceback": self.error_traceback,
            "retry_at": None if self.retry_at is None else self.retry_at.isoformat(),
            "priority": self.priority,
            "queue": self.queue,
            "lock": self.lock,
            "delete_job": self.delete_job,
        }


@dataclass(frozen=True, slots=True)
class CompletedJob:
    """A job whose outcome was written, with its new status."""

    job_id: int
    status: str


async def job_claim(
    conn: Connection, *, queues: Sequence[str] | None, worker_id: int, max_jobs: int
) -> list[ClaimedJob]:
    """Claim up to ``max_jobs`` runnable jobs of ``queues`` (None: any) for the worker."""
    return await fetch_all(
        conn,
        "job_claim",
        ClaimedJob,
        {
            "queues": None if queues is None else list(queues),
            "worker_id": worker_id,
            "max_jobs": max_jobs,
        },
    )


async def job_complete(
    conn: Connection, *, worker_id: int | None, outcomes: Sequence[AttemptOutcome]
) -> list[CompletedJob]:
    """Write the outcomes in one statement; returns the jobs they applied to.

    An outcome whose job is no longer at that attempt on this worker (the
    stalled-job rescue declared the attempt lost) is not written and not returned.
    """
    # One JSON document: the statement keeps one shape (one plan) whatever the batch size.
    document = json.dumps([outcome.as_json() for outcome in outcomes], separators=(",", ":"))
    return await fetch_all(
        conn, "job_complete", CompletedJob, {"worker_id": worker_id, "outcomes": document}
    )


async def job_release(conn: Connection, *, worker_id: int, job_ids: Sequence[int]) -> None:
    """Put jobs the worker claimed and never started back in their queue, and wake workers."""
    await conn.execute(query("job_release"), {"worker_id": worker_id, "job_ids": list(job_ids)})
