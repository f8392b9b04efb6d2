"""Dead letters: jobs that exhausted their retries, listed and put back in their queue.

procrastinate sends a job that has retries left back to ``todo``; a job in
``failed`` has none left, so failed is final and the failed jobs are the dead
letters. They are listed newest failure first, and retried one by one
(``POST /jobs/{id}/retry``) or in bulk, by filter, in one statement.

A bulk retry must say what it is about: ``scope="matching"`` with at least one
filter (ids, task, queue, error type, failure time), or ``scope="all"`` with
none. An empty filter never silently means "everything".
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from db import dead_letter_store, job_store
from db.dead_letter_store import DeadLetterFilter, DeadLetterRow
from db.types import Connection
from jobs.errors import AlreadyEnqueued, InvalidCursor, UnscopedBulkRetry

RetryScope = Literal["matching", "all"]


@dataclass(frozen=True, slots=True)
class DeadLetterCursor:
    """Where a page of dead letters ended: its last (failed_at, id), opaque to clients."""

    failed_at: datetime.datetime
    id: int

    def encode(self) -> str:
        text = f"{self.failed_at.isoformat()}|{self.id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> DeadLetterCursor:
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            failed_at, job_id = text.split("|")
            parsed = cls(datetime.datetime.fromisoformat(failed_at), int(job_id))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidCursor(cursor) from None
        if parsed.failed_at.tzinfo is None:
            raise InvalidCursor(cursor)
        return parsed


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    #: Dead letters the filters matched.
    matched: int
    #: Put back in todo (on a dry run: would be).
    retried: int
    #: Matched but left failed: their queueing lock is held by a queued job, or by a
    #: newer dead letter retried in the same call.
    skipped: int
    dry_run: bool


async def list_dead_letters(
    conn: Connection,
    filters: DeadLetterFilter,
    *,
    limit: int,
    cursor: DeadLetterCursor | None = None,
) -> tuple[list[DeadLetterRow], DeadLetterCursor | None]:
    """A page of dead letters, newest failure first, and the cursor of the next page."""
    rows = await dead_letter_store.dead_letter_list(
        conn,
        filters,
        limit=limit + 1,
        before=(cursor.failed_at, cursor.id) if cursor else None,
    )
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], DeadLetterCursor(last.failed_at, last.id)


def check_scope(
    scope: RetryScope, filters: DeadLetterFilter, job_ids: Sequence[int] | None
) -> None:
    """The safety rule of bulk retries: a scope, and filters exactly when it is "matching"."""
    filtered = job_ids is not None or any(value is not None for value in filters.params().values())
    if scope == "matching" and not filtered:
        raise UnscopedBulkRetry(
            "scope",
            'scope "matching" needs at least one filter (ids, task, queue, error_type, '
            'failed_after, failed_before); to retry every dead letter send scope "all"',
        )
    if scope == "all" and filtered:
        raise UnscopedBulkRetry(
            "scope", 'scope "all" retries every dead letter and takes no filters; use "matching"'
        )


async def retry_dead_letters(
    conn: Connection,
    filters: DeadLetterFilter,
    *,
    scope: RetryScope,
    job_ids: Sequence[int] | None = None,
    dry_run: bool = False,
) -> RetryOutcome:
    """Put the matching dead letters back in their queues, in one statement.

    Each keeps its arguments, queue, priority and attempt count, runs as soon as
    a worker is free, and gets a 'retried' event. Raises
    :class:`UnscopedBulkRetry` when the scope and filters disagree (see
    :func:`check_scope`) and :class:`AlreadyEnqueued` when a queued job took one
    of their queueing locks while the statement ran (nothing is retried then).
    """
    check_scope(scope, filters, job_ids)
    try:
        counts = await dead_letter_store.dead_letter_retry(
            conn, filters, job_ids=job_ids, dry_run=dry_run
        )
    except job_store.QueueingLockTaken as taken:
        raise AlreadyEnqueued(taken.lock or taken.args[0]) from None
    return RetryOutcome(
        matched=counts.matched,
        retried=counts.eligible if dry_run else counts.retried,
        skipped=counts.matched - counts.eligible,
        dry_run=dry_run,
    )
