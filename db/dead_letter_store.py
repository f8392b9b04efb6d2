"""Repository for dead letters: failed jobs, listed and retried in bulk.

Both queries take the same filters; the retry is one statement whatever the
number of jobs it moves (see ``dead_letter_retry`` in db/sql/dead_letters.sql).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row

from db.job_store import raise_known_violation
from db.queries import query
from db.types import Connection, Row


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
class RetryCounts:
    #: Dead letters the filters matched.
    matched: int
    #: Of those, the ones whose queueing lock left them free to go back to todo.
    eligible: int
    #: Of those, the ones moved to todo (0 on a dry run).
    retried: int


async def dead_letter_list(
    conn: Connection,
    filters: DeadLetterFilter,
    *,
    limit: int,
    before: tuple[datetime.datetime, int] | None = None,
) -> list[Row]:
    """Dead letters newest failure first; ``before`` is the (failed_at, id) of the last one seen."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            query("dead_letter_list"),
            {
                **filters.params(),
                "limit": limit,
                "before_failed_at": before[0] if before else None,
                "before_id": before[1] if before else None,
            },
        )
        return await cursor.fetchall()


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
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                query("dead_letter_retry"),
                {
                    **filters.params(),
                    "job_ids": list(job_ids) if job_ids is not None else None,
                    "dry_run": dry_run,
                },
            )
            row = await cursor.fetchone()
    except errors.UniqueViolation as error:
        raise_known_violation(error)
        raise
    assert row is not None
    return RetryCounts(
        matched=int(row["matched"]), eligible=int(row["eligible"]), retried=int(row["retried"])
    )
