"""Retention: finished jobs are deleted once older than their status' retention age.

Deleting a job deletes its events and pgjobs rows with it (ON DELETE CASCADE).
The work is cut into short transactions of at most ``batch_size`` jobs, each
with a lock timeout, walking the job table in id order (``job_prune_finished``
in ``db/sql/maintenance.sql``): no long lock, no huge transaction, no WAL burst,
and a run interrupted (worker shutdown, lock timeout) loses nothing but time.
Succeeded runs of pgjobs' own maintenance tasks, one every few seconds, get a
much shorter age of their own. Expired idempotency keys go in the same run.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import errors

from db import maintenance_store
from db.types import Connection
from jobs.control import idempotency

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    #: How long finished jobs are kept, by final status.
    ages: dict[str, datetime.timedelta]
    #: How long succeeded jobs of the maintenance queue are kept.
    maintenance_age: datetime.timedelta
    #: The queue of pgjobs' maintenance tasks.
    maintenance_queue: str
    #: Jobs per transaction.
    batch_size: int = 1000
    #: Seconds a batch may wait for a lock before the run stops (until the next run).
    lock_timeout: float = 5.0


@dataclass(slots=True)
class RetentionReport:
    deleted: dict[str, int] = field(default_factory=dict)
    maintenance_deleted: int = 0
    idempotency_keys_deleted: int = 0
    batches: int = 0
    #: Duration of the longest transaction: how long any row lock was held.
    longest_batch_seconds: float = 0.0
    interrupted: str | None = None

    def timed(self, started: float) -> None:
        self.batches += 1
        self.longest_batch_seconds = max(self.longest_batch_seconds, time.monotonic() - started)

    def as_json(self) -> dict[str, Any]:
        return {
            "deleted": dict(sorted(self.deleted.items())),
            "maintenance_deleted": self.maintenance_deleted,
            "idempotency_keys_deleted": self.idempotency_keys_deleted,
            "batches": self.batches,
            "longest_batch_seconds": round(self.longest_batch_seconds, 3),
            "interrupted": self.interrupted,
        }


async def prune_finished_jobs(
    conn: Connection, policy: RetentionPolicy, *, should_stop: Callable[[], bool] = lambda: False
) -> RetentionReport:
    """Delete every expired finished job, batch by batch; stops early when ``should_stop()``."""
    report = RetentionReport()
    try:
        await _prune_by_status(conn, policy, report, should_stop)
        await _prune_maintenance_runs(conn, policy, report, should_stop)
        await _purge_idempotency_keys(conn, policy, report, should_stop)
    except errors.LockNotAvailable:
        logger.warning("retention stopped early: a lock was not available in time")
        report.interrupted = "lock timeout"
    if report.interrupted is None and should_stop():
        report.interrupted = "worker stopping"
    return report


async def _prune_by_status(
    conn: Connection,
    policy: RetentionPolicy,
    report: RetentionReport,
    should_stop: Callable[[], bool],
) -> None:
    after_id = 0
    while not should_stop():
        started = time.monotonic()
        async with conn.transaction():
            await maintenance_store.configure_transaction(conn, lock_timeout=policy.lock_timeout)
            pruned = await maintenance_store.job_prune_finished(
                conn, after_id=after_id, batch_size=policy.batch_size, ages=policy.ages
            )
        report.timed(started)
        for status, count in pruned.deleted.items():
            report.deleted[status] = report.deleted.get(status, 0) + count
        if pruned.done or pruned.last_id is None:
            return
        after_id = pruned.last_id


async def _prune_maintenance_runs(
    conn: Connection,
    policy: RetentionPolicy,
    report: RetentionReport,
    should_stop: Callable[[], bool],
) -> None:
    report.maintenance_deleted += await _delete_in_batches(
        conn,
        policy,
        report,
        should_stop,
        lambda: maintenance_store.job_prune_maintenance(
            conn,
            queue=policy.maintenance_queue,
            max_age=policy.maintenance_age,
            batch_size=policy.batch_size,
        ),
    )


async def _purge_idempotency_keys(
    conn: Connection,
    policy: RetentionPolicy,
    report: RetentionReport,
    should_stop: Callable[[], bool],
) -> None:
    """Expired keys are released when reused anyway; purging them keeps the table small."""
    report.idempotency_keys_deleted += await _delete_in_batches(
        conn,
        policy,
        report,
        should_stop,
        lambda: idempotency.purge_expired(conn, limit=policy.batch_size),
    )


async def _delete_in_batches(
    conn: Connection,
    policy: RetentionPolicy,
    report: RetentionReport,
    should_stop: Callable[[], bool],
    delete_batch: Callable[[], Awaitable[int]],
) -> int:
    """Run ``delete_batch`` (at most ``policy.batch_size`` rows) in short transactions until
    a batch comes back short; returns how many rows went."""
    total = 0
    while not should_stop():
        started = time.monotonic()
        async with conn.transaction():
            await maintenance_store.configure_transaction(conn, lock_timeout=policy.lock_timeout)
            deleted = await delete_batch()
        report.timed(started)
        total += deleted
        if deleted < policy.batch_size:
            break
    return total
