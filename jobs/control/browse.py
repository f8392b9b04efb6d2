"""Browse jobs for the dashboard: filters that stay fast on any table size.

A filter on state, queue, task or text in the arguments has no index to use
on ``procrastinate_jobs`` (pgjobs adds none to procrastinate's tables, and an
index per filter would tax every state change). Each page therefore examines
a bounded window of the newest jobs below its cursor, at most
:data:`SCAN_LIMIT` rows read along the primary key (or along procrastinate's
todo/doing partial index when only those states are asked for), and keeps the
matches. A page costs the same on a thousand jobs or a million, whatever the
filter; a rare match may need "older" a few times, and the page says which
range of jobs it searched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from db import observability_store
from db.types import Connection, Row

#: Jobs examined per page at most (about 10 ms at a million jobs, measured in bench/).
SCAN_LIMIT = 10_000
ACTIVE = frozenset({"todo", "doing"})


@dataclass(frozen=True, slots=True)
class JobFilters:
    statuses: tuple[str, ...] = ()
    queue: str | None = None
    task: str | None = None
    #: Case-insensitive substring of the arguments' JSON.
    text: str | None = None


@dataclass(frozen=True, slots=True)
class JobScan:
    """One page: ``rows`` newest first, and where the next (older) page starts."""

    rows: list[Row]
    #: Cursor of the next page (None: nothing older to search).
    next_before: int | None
    #: The page filled up before the window ended (else every job down to
    #: ``searched_down_to`` was searched).
    full: bool
    searched_down_to: int | None


async def scan_jobs(
    conn: Connection,
    filters: JobFilters,
    *,
    before_id: int | None,
    limit: int,
    scan_limit: int = SCAN_LIMIT,
) -> JobScan:
    statuses: Sequence[str] | None = filters.statuses or None
    active_only = bool(statuses) and set(filters.statuses) <= ACTIVE
    rows = await observability_store.job_page_scan(
        conn,
        before_id=before_id,
        scan_limit=scan_limit,
        limit=limit + 1,
        statuses=statuses,
        queue=filters.queue,
        task=filters.task,
        text=filters.text,
        active_only=active_only,
    )
    if len(rows) > limit:
        last = int(rows[limit - 1]["id"])
        return JobScan(rows=rows[:limit], next_before=last, full=True, searched_down_to=last)
    floor, scanned = await observability_store.job_scan_floor(
        conn, before_id=before_id, scan_limit=scan_limit, active_only=active_only
    )
    return JobScan(
        rows=rows,
        next_before=floor if scanned == scan_limit else None,
        full=False,
        searched_down_to=floor,
    )
