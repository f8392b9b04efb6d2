"""Stalled-job rescue: the running jobs of a dead worker are retried, never left ``doing``.

A worker is dead when its heartbeat is older than ``stalled_after`` (or its row
is gone); see ``job_lock_stalled`` in ``db/sql/maintenance.sql`` for the exact
test, including why nothing is rescued in the first ``stalled_after`` seconds
after a Postgres restart. Each of its ``doing`` jobs is then, in one short
transaction holding the job's row lock:

* finished ``succeeded`` when the worker middleware had recorded the attempt as
  succeeded (the attempt ran to its end; only its status write was lost);
* finished ``aborted`` when an abort had been requested (nobody wants it run again);
* otherwise retried or failed as the task's retry policy says: for a
  :class:`~jobs.tasks.retry.RetryPolicy`, within its ``max_attempts`` and after its
  backoff delay, whatever its ``retry_on`` (a worker dying is not an error of
  the task); any other procrastinate strategy is asked about a
  :class:`WorkerLost` error (``get_retry_exception``); a task without a policy
  is retried at once until it has run ``max_attempts`` times (a job that kills
  its worker every time must end).

The interrupted attempt is recorded as ``lost`` in ``pgjobs_attempts`` with the
reason; procrastinate's trigger adds the ``deferred_for_retry`` (or final) event.
Then dead workers with no job left are pruned, a few per run.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import procrastinate
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision
from psycopg import errors

from db import maintenance_store
from db.maintenance_store import StalledJob
from db.types import Connection
from jobs.errors import type_name
from jobs.tasks.retry import RetryPolicy, task_retry_strategy

logger = logging.getLogger(__name__)

Action = Literal["retry", "failed", "aborted", "succeeded"]


class WorkerLost(Exception):
    """The worker running the attempt died before it finished (the rescue's error)."""


@dataclass(frozen=True, slots=True)
class RescuePolicy:
    #: A worker whose heartbeat is older than this (seconds) is dead.
    stalled_after: float
    #: Runs of a job whose task has no retry policy before a lost attempt fails it.
    max_attempts: int
    #: Jobs rescued per transaction.
    batch_size: int = 100
    #: Seconds any statement may wait for a lock before the run gives up (until next run).
    lock_timeout: float = 2.0
    #: Dead workers deleted per run (each deletion scans procrastinate_jobs once).
    prune_limit: int = 10


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    retry: RetryDecision | None = None


@dataclass(slots=True)
class RescueReport:
    """What one rescue run did: job ids by action, and the pruned workers."""

    jobs: dict[str, list[int]] = field(default_factory=dict)
    pruned_workers: list[int] = field(default_factory=list)
    interrupted: bool = False

    def add(self, action: Action, job_id: int) -> None:
        self.jobs.setdefault(action, []).append(job_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "rescued": dict(sorted(self.jobs.items())),
            "pruned_workers": self.pruned_workers,
            "interrupted_by_lock_timeout": self.interrupted,
        }


def decide(row: StalledJob, app: procrastinate.App, policy: RescuePolicy) -> Decision:
    """What to do with one stalled job (``row`` from ``job_lock_stalled``)."""
    job = Job(
        id=row.id,
        status=row.status,
        priority=row.priority,
        lock=row.lock,
        queueing_lock=row.queueing_lock,
        task_name=row.task_name,
        task_kwargs=row.args,
        scheduled_at=row.scheduled_at,
        queue=row.queue_name,
        attempts=row.attempts,
        abort_requested=row.abort_requested,
        worker_id=row.worker_id,
    )
    if row.heartbeat_age_seconds is None:
        cause = f"its worker ({row.worker_id or 'unknown'}) is gone"
    else:
        cause = (
            f"worker {row.worker_id} stopped heartbeating "
            f"(last heartbeat {row.heartbeat_age_seconds:.0f} s ago)"
        )
    if row.recorded_outcome == "succeeded":
        return Decision("succeeded", f"{cause} after the attempt succeeded: finished succeeded")
    if row.abort_requested:
        return Decision("aborted", f"{cause} while an abort was requested: finished aborted")
    task = app.tasks.get(job.task_name)
    strategy = task_retry_strategy(task) if task is not None else None
    lost_attempt = job.attempts + 1
    decision: RetryDecision | None
    if isinstance(strategy, RetryPolicy):
        # A dead worker is not an error of the task: the policy's exception filters
        # (retry_on, never_retry) do not apply, its attempt limit and backoff do.
        decision = None
        if lost_attempt < strategy.max_attempts:
            delay = datetime.timedelta(seconds=strategy.delay(lost_attempt))
            decision = RetryDecision(retry_at=datetime.datetime.now(datetime.UTC) + delay)
        rule = f"its task's retry policy: {strategy.max_attempts} runs at most"
    elif strategy is not None:
        retry = strategy.get_retry_exception(exception=WorkerLost(cause), job=job)
        decision = retry.retry_decision if retry is not None else None
        rule = "its task's retry strategy"
    else:
        decision = RetryDecision() if lost_attempt < policy.max_attempts else None
        rule = f"up to {policy.max_attempts} runs for a task without a retry policy"
    if decision is None:
        return Decision("failed", f"{cause}: failed ({rule} allows no retry)")
    when = "at once" if decision.retry_at is None else f"at {decision.retry_at.isoformat()}"
    return Decision("retry", f"{cause}: retried {when} ({rule})", decision)


async def rescue_stalled_jobs(
    conn: Connection, app: procrastinate.App, policy: RescuePolicy
) -> RescueReport:
    """Rescue every stalled job in batches, then prune dead workers; safe to run concurrently."""
    report = RescueReport()
    if not await maintenance_store.rescue_needed(conn, stalled_after=policy.stalled_after):
        return report  # the common case: one read, no transaction
    try:
        while await _rescue_batch(conn, app, policy, report) == policy.batch_size:
            pass
        async with conn.transaction():
            await maintenance_store.configure_transaction(conn, lock_timeout=policy.lock_timeout)
            report.pruned_workers = await maintenance_store.worker_prune_stalled(
                conn, stalled_after=policy.stalled_after, limit=policy.prune_limit
            )
    except errors.LockNotAvailable:
        # someone holds a row we need: leave it to the next run rather than queue behind them
        logger.warning("stalled-job rescue stopped early: a lock was not available in time")
        report.interrupted = True
    return report


async def _rescue_batch(
    conn: Connection, app: procrastinate.App, policy: RescuePolicy, report: RescueReport
) -> int:
    async with conn.transaction():
        await maintenance_store.configure_transaction(conn, lock_timeout=policy.lock_timeout)
        rows = await maintenance_store.job_lock_stalled(
            conn, stalled_after=policy.stalled_after, limit=policy.batch_size
        )
        for row in rows:
            decision = decide(row, app, policy)
            await _apply(conn, row, decision)
            report.add(decision.action, row.id)
            logger.warning("rescued job %s (%s): %s", row.id, row.task_name, decision.reason)
    return len(rows)


async def _apply(conn: Connection, row: StalledJob, decision: Decision) -> None:
    job_id = row.id
    # The attempt first: its number is the job's attempts + 1 before the retry counts it.
    await maintenance_store.attempt_record_lost(
        conn,
        maintenance_store.LostAttempt(
            job_id=job_id,
            attempt=row.attempts + 1,
            worker_id=row.worker_id,
            started_at=row.started_at,
            error_type=type_name(WorkerLost),
            error_message=decision.reason,
        ),
    )
    if decision.retry is None:
        await maintenance_store.job_rescue_finish(conn, job_id, decision.action)
        return
    await maintenance_store.job_rescue_retry(
        conn,
        job_id,
        retry_at=decision.retry.retry_at,
        priority=decision.retry.priority,
        queue=decision.retry.queue,
        lock=decision.retry.lock,
        wake_queue=decision.retry.queue or row.queue_name,
    )
