"""The one job query: filtered pages of jobs, newest first, each costing a bounded amount.

``GET /jobs``, the dashboard's job list and ``jobs.testing`` read jobs only
through :func:`query_jobs`, with the same filters (:class:`JobFilter`) and the
same rows (``JobSummaryRow``), so a field means one thing wherever it shows.

A filter on state, queue, task, creation time or text in the arguments has no
index to use on ``procrastinate_jobs`` (pgjobs adds none to procrastinate's
tables, and an index per filter would tax every state change). Each page
therefore examines a bounded window of the newest jobs below its cursor, at
most :data:`SCAN_LIMIT` of them, and keeps the matches. A page costs the same
on a thousand jobs or ten million, whatever the filter; a rare match may take
a few pages (a short page with a ``next_cursor`` means "keep going"), and the
page says down to which job it searched.
"""

from __future__ import annotations

from dataclasses import dataclass

from db import job_query_store
from db.job_query_store import JobFilter, JobSummaryRow
from db.types import Connection

__all__ = ["SCAN_LIMIT", "JobFilter", "JobPage", "JobSummaryRow", "query_jobs"]

#: Jobs examined per page at most (about 10 ms at a million jobs, measured in bench/).
SCAN_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page: ``rows`` newest first, and where the next (older) page starts."""

    rows: list[JobSummaryRow]
    #: Cursor of the next page: pass it back as ``cursor`` (None: nothing older to search).
    next_cursor: int | None
    #: The page filled up before its window ended (else every job down to
    #: ``searched_down_to`` was searched).
    full: bool
    searched_down_to: int | None


async def query_jobs(
    conn: Connection,
    job_filter: JobFilter,
    *,
    cursor: int | None = None,
    limit: int,
    scan_limit: int = SCAN_LIMIT,
) -> JobPage:
    """Up to ``limit`` jobs matching ``job_filter``, below the job id ``cursor`` (None: newest)."""
    rows = await job_query_store.job_page(
        conn, job_filter, before_id=cursor, limit=limit + 1, scan_limit=scan_limit
    )
    if len(rows) > limit:
        last = rows[limit - 1].id
        return JobPage(rows=rows[:limit], next_cursor=last, full=True, searched_down_to=last)
    window = await job_query_store.job_page_window(
        conn, job_filter, before_id=cursor, scan_limit=scan_limit
    )
    return JobPage(
        rows=rows,
        next_cursor=window.floor if window.scanned == scan_limit else None,
        full=False,
        searched_down_to=window.floor,
    )
