"""Repository of the one job query: pages of jobs, newest first, filtered, read in bounded windows.

``GET /jobs``, the dashboard's job list and ``jobs.testing`` all read jobs
through :func:`job_page` (their paging rules are in ``jobs/control/query.py``).
A filter here means the same thing everywhere, and so does a row: a
:class:`JobSummaryRow`.

Which statement serves a page is this module's business alone: the window
walks procrastinate's primary key, or its todo/doing partial index when only
those statuses are asked for (see ``job_query`` in ``db/sql/jobs.sql``). Moving
the reads onto other columns or indexes changes this module, not its callers.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from db.rows import fetch_all, fetch_one
from db.types import ACTIVE_STATUSES, Connection, JobStatus


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a query is about; each field left at its default means any."""

    statuses: frozenset[JobStatus] = frozenset()
    queue: str | None = None
    task: str | None = None
    #: Case-insensitive substring of the arguments' JSON.
    text: str | None = None
    #: Created at or after this time.
    created_after: datetime.datetime | None = None
    #: Created strictly before this time.
    created_before: datetime.datetime | None = None
    #: Jobs of these queues are left out, unless ``queue`` names one of them.
    hidden_queues: frozenset[str] = frozenset()

    @property
    def active_only(self) -> bool:
        """Only queued or running jobs are asked for (procrastinate's partial index has them)."""
        return bool(self.statuses) and self.statuses <= ACTIVE_STATUSES

    def params(self) -> dict[str, Any]:
        return {
            "statuses": sorted(status.value for status in self.statuses) or None,
            "queue": self.queue,
            "task": self.task,
            "text": self.text,
            "created_after": self.created_after,
            "created_before": self.created_before,
            "hidden_queues": sorted(self.hidden_queues - {self.queue}) or None,
        }


@dataclass(frozen=True, slots=True)
class JobSummaryRow:
    """A job as a list shows it: no result, traceback or timeline (``job_get`` has those)."""

    id: int
    task: str
    queue: str
    priority: int
    status: JobStatus
    attempts: int
    abort_requested: bool
    scheduled_at: datetime.datetime | None
    #: As in ``job_get``: pgjobs' record, else the job's first 'deferred' event.
    created_at: datetime.datetime | None
    created_by: str | None
    batch_id: uuid.UUID | None
    args: dict[str, Any]
    progress_percent: float | None
    error_type: str | None
    error_message: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus(self.status))


@dataclass(frozen=True, slots=True)
class ScanWindow:
    """The jobs a page examined: how many, down to which id (None: there were none)."""

    floor: int | None
    scanned: int


async def job_page(
    conn: Connection,
    job_filter: JobFilter,
    *,
    before_id: int | None,
    limit: int,
    scan_limit: int,
) -> list[JobSummaryRow]:
    """Up to ``limit`` matching jobs among the ``scan_limit`` newest below ``before_id``."""
    return await fetch_all(
        conn,
        "job_query_active" if job_filter.active_only else "job_query",
        JobSummaryRow,
        {**job_filter.params(), "before_id": before_id, "limit": limit, "scan_limit": scan_limit},
    )


async def job_page_window(
    conn: Connection, job_filter: JobFilter, *, before_id: int | None, scan_limit: int
) -> ScanWindow:
    """The window :func:`job_page` examined with the same arguments."""
    window = await fetch_one(
        conn,
        "job_query_window_active" if job_filter.active_only else "job_query_window",
        ScanWindow,
        {"before_id": before_id, "scan_limit": scan_limit},
    )
    assert window is not None, "an aggregate always returns its row"
    return window
