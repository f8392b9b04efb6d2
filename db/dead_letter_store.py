"""Repository for dead letters: failed jobs, listed and retried in bulk.

Both queries take the same filters; the retry is one statement whatever the
number of jobs it moves (see ``dead_letter_retry`` in db/sql/dead_letters.sql).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors

from db.job_store import raise_known_violation
from db.rows import fetch_all, fetch_one
from db.types import Connection


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters a query is about; ``None`` means any."""

    task: str | None = None
    queue: str | None = None
    error_type: str | None = None
    #: Failed at or after this time.
    failed_after: datetime.datetime | None = None
    #: Failed strictly before this time.
    failed_before: datetime.datetime | None = None

    def params(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "queue": self.queue,
            "error_type": self.error_type,
            "failed_after": self.failed_after,
            "failed_before": self.failed_before,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A failed job with its last error."""

    id: int
    task: str
    queue: str
    priority: int
    args: dict[str, Any]
    attempts: int
    #: Its latest 'failed' event (else its latest event of any kind).
    failed_at: datetime.datetime
    #: As in ``job_get``: pgjobs' record, else the job's first 'deferred' event.
    created_at: datetime.datetime | None
    created_by: str | None
    batch_id: uuid.UUID | None
    error_type: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class RetryCounts:
    #: Dead letters the filters matched.
    matched: int
    #: Of those, the ones whose queueing lock left them free to go back to todo.
    eligible: int
    #: Of those, the ones moved to todo (0 on a dry run).
    retried: int
    #: Wake-ups sent to the queues of the retried jobs.
    notifications: int


async def dead_letter_list(
    conn: Connection,
    filters: DeadLetterFilter,
    *,
    limit: int,
    before: tuple[datetime.datetime, int] | None = None,
) -> list[DeadLetterRow]:
    """Dead letters newest failure first; ``before`` is the (failed_at, id) of the last one seen."""
    return await fetch_all(
        conn,
        "dead_letter_list",
        DeadLetterRow,
        {
            **filters.params(),
            "limit": limit,
            "before_failed_at": before[0] if before else None,
            "before_id": before[1] if before else None,
        },
    )


async def dead_letter_retry(
    conn: Connection,
    filters: DeadLetterFilter,
    *,
    job_ids: Sequence[int] | None,
    dry_run: bool,
) -> RetryCounts:
    """Move the matching dead letters back to todo in one statement (none on a dry run).

    Raises :class:`db.job_store.QueueingLockTaken` if a job took one of their queueing locks
    while the statement ran; nothing was retried then.
    """
    try:
        counts = await fetch_one(
            conn,
            "dead_letter_retry",
            RetryCounts,
            {
                **filters.params(),
                "job_ids": list(job_ids) if job_ids is not None else None,
                "dry_run": dry_run,
            },
        )
    except errors.UniqueViolation as error:
        raise_known_violation(error)
        raise
    assert counts is not None, "the statement's aggregates always return their row"
    return counts
