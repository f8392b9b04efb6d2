"""Repository for periodic schedules: what procrastinate's deferrer recorded per tick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from db.rows import fetch_all
from db.types import Connection, JobStatus


@dataclass(frozen=True, slots=True)
class PeriodicDeferRow:
    """The latest tick procrastinate deferred for one periodic task."""

    task_name: str
    periodic_id: str
    #: Unix seconds of the tick.
    defer_timestamp: int
    #: Its job (None once the job was deleted) and that job's status.
    job_id: int | None
    status: JobStatus | None

    def __post_init__(self) -> None:
        if self.status is not None:
            object.__setattr__(self, "status", JobStatus(self.status))


async def periodic_defer_list_latest(
    conn: Connection, task_names: Sequence[str]
) -> list[PeriodicDeferRow]:
    """The latest deferred tick of each periodic task among ``task_names``."""
    return await fetch_all(
        conn, "periodic_defer_list_latest", PeriodicDeferRow, {"task_names": list(task_names)}
    )
