"""Batched completion: the outcomes of many attempts written in one statement, one commit.

Every finished attempt used to cost its own round trips and its own commit (each
waiting for the WAL flush): the attempt record, then procrastinate's status
write. The :class:`Completer` of a worker buffers outcomes instead and writes
them with one ``pgjobs_complete_jobs_v1`` call per flush, as River's batch
completer and graphile-worker's batched completion do:

* a flush starts as soon as an outcome waits and no flush is in flight, after
  waiting at most ``interval`` seconds for ``max_batch`` outcomes to gather
  (``PGJOBS_WORKER_FLUSH_INTERVAL_SECONDS`` / ``PGJOBS_WORKER_FLUSH_MAX_OUTCOMES``); outcomes
  arriving while a flush is in flight go into the next one, so a busy worker
  batches by itself and an idle one adds no delay beyond ``interval``;
* :meth:`Completer.complete` returns only once its outcome is committed: a job
  is never reported finished before its outcome is durable. A worker killed
  before a flush leaves those jobs ``doing``; the stalled-job rescue runs them
  again and records each interrupted attempt as ``lost``;
* a failed flush fails every outcome in it (the worker middleware then stops
  the worker, whose jobs are rescued): the statement is all or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from db.worker_store import AttemptOutcome, CompletedJob

logger = logging.getLogger(__name__)

#: Writes one batch of outcomes; returns the jobs they applied to.
WriteBatch = Callable[[Sequence[AttemptOutcome]], Awaitable[list[CompletedJob]]]


class Completer:
    """One worker's completion buffer and the task that flushes it."""

    def __init__(self, write: WriteBatch, *, interval: float, max_batch: int) -> None:
        self._write = write
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[tuple[AttemptOutcome, asyncio.Future[CompletedJob | None]]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        #: Flushes written so far and outcomes they carried (the bench reads them).
        self.flushes = 0
        self.outcomes = 0

    async def complete(self, outcome: AttemptOutcome) -> CompletedJob | None:
        """Buffer ``outcome`` and return once it is committed (None: it no longer applied)."""
        future: asyncio.Future[CompletedJob | None] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, future))
        if len(self._pending) >= self.max_batch:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all(), name="pgjobs completer")
        return await future

    async def written(self) -> None:
        """Wait until every outcome buffered so far is written (or failed)."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.wait([self._flusher])

    async def _flush_all(self) -> None:
        while self._pending:
            if len(self._pending) < self.max_batch:
                # Gather what finishes meanwhile; outcomes of this very loop iteration
                # join even with interval 0.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._full.wait()
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            self._full.clear()
            if len(self._pending) >= self.max_batch:
                self._full.set()
            await self._flush(batch)

    async def _flush(
        self, batch: list[tuple[AttemptOutcome, asyncio.Future[CompletedJob | None]]]
    ) -> None:
        try:
            written = await self._write([outcome for outcome, _ in batch])
        except Exception as error:
            logger.error("could not write %s job outcomes: %s", len(batch), error)
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.flushes += 1
        self.outcomes += len(batch)
        by_job = {completed.job_id: completed for completed in written}
        for outcome, future in batch:
            completed = by_job.get(outcome.job_id)
            if completed is None:
                logger.warning(
                    "job %s: the outcome of attempt %s was not written: the job is no longer "
                    "at that attempt on this worker (the stalled-job rescue took it over)",
                    outcome.job_id,
                    outcome.attempt,
                )
            if not future.done():
                future.set_result(completed)
