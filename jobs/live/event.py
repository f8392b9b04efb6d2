"""A job's state change or progress report, as live streams carry it.

Built from a ``procrastinate_events`` row (read by the hub when a transaction
announces new ones, or by a replay), a progress notification, or a stored
progress row; serialised once per event for every subscriber (``to_json``).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from db.observability_store import JobEventRow, ProgressRow
from db.types import JobStatus

#: The job's status right after each event type (abort_requested changes none).
STATUS_AFTER: dict[str, JobStatus | None] = {
    "deferred": JobStatus.TODO,
    "scheduled": JobStatus.TODO,
    "deferred_for_retry": JobStatus.TODO,
    "retried": JobStatus.TODO,
    "started": JobStatus.DOING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "aborted": JobStatus.ABORTED,
    "abort_requested": None,
    "progress": JobStatus.DOING,
}


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One state change (``id`` is its procrastinate_events id) or one progress report."""

    job_id: int
    type: str
    id: int | None = None
    at: datetime.datetime | None = None
    queue: str | None = None
    task: str | None = None
    percent: float | None = None
    message: str | None = None

    @classmethod
    def from_row(cls, row: JobEventRow) -> LiveEvent:
        return cls(
            id=row.id, job_id=row.job_id, type=row.type, at=row.at, queue=row.queue, task=row.task
        )

    @property
    def status(self) -> JobStatus | None:
        return STATUS_AFTER.get(self.type)

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "id": self.id,
            "job_id": self.job_id,
            "type": self.type,
            "status": self.status,
            "at": self.at.isoformat() if self.at else None,
            "queue": self.queue,
            "task": self.task,
        }
        if self.type == "progress":
            body["percent"] = self.percent
            body["message"] = self.message
        return json.dumps(body, separators=(",", ":"))


def progress_event(row: ProgressRow) -> LiveEvent:
    """A progress report from a ``progress_list_running`` row."""
    return LiveEvent(
        job_id=row.job_id,
        type="progress",
        at=row.at,
        queue=row.queue,
        task=row.task,
        percent=row.percent,
        message=row.message,
    )


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a subscriber wants: one job's, or all (optionally of one queue/task)."""

    job_id: int | None = None
    queue: str | None = None
    task: str | None = None

    def matches(self, event: LiveEvent) -> bool:
        return (
            (self.job_id is None or event.job_id == self.job_id)
            and (self.queue is None or event.queue == self.queue)
            and (self.task is None or event.task == self.task)
        )
