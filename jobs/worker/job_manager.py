"""pgjobs' job manager: procrastinate's, with batched claims and completions, worker
identity and the claim gate.

procrastinate's worker loop takes a semaphore permit per free slot and calls its
app's job manager once per permit to claim a job (``fetch_job``), then once per
finished job to write its outcome (``finish_job`` / ``retry_job``); its stock
manager makes each of those a round trip and a commit of its own. pgjobs keeps
the loop (so ``procrastinate --app=jobs.app worker`` and ``pgjobs worker`` are
unchanged) and replaces the manager:

* **batched claim**: when a worker asks and nothing is claimed for it yet, one
  ``pgjobs_claim_jobs_v1`` call claims up to its *free slots* (the permit just
  taken plus those still free), hands back the first job and keeps the others
  for the calls that follow at once, one per free permit: claimed jobs never
  wait for a slot. A job's own time limits come with it (no lookup when it
  starts). Jobs claimed but never handed out (the worker was told to stop
  between two calls) go back to their queue when it unregisters;
* **batched completion**: the attempt's outcome, reported by the worker
  middleware (:func:`jobs.worker.middleware.record_outcome`), joins the status
  change and goes to the worker's :class:`~jobs.worker.completer.Completer`,
  which writes many in one statement and returns once they are committed; a
  worker claims only once what it finished is written;
* **identity**: registering a worker also records which process it is
  (``pgjobs_workers``: name, host, pid), and each heartbeat carries the
  process' figures (jobs finished, resident memory, recycling state), so the
  workers page and ``/metrics`` show every process of every ``pgjobs worker``;
* **the claim gate** of :mod:`jobs.worker.recycling`: a retiring worker claims
  nothing (it still runs what it already claimed), and every claim and
  completion is reported to :class:`Claims` so the worker stops only once all
  it claimed is written.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import os
from collections.abc import Iterable
from typing import Any, Protocol, cast

from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager as ProcrastinateJobManager
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.worker import Worker

from db import worker_process_store, worker_store
from db.types import Pool
from db.worker_store import AttemptOutcome, ClaimedJob, CompletedJob
from jobs.settings import Settings
from jobs.worker.completer import Completer
from jobs.worker.recycling import Claims, resident_memory


class SlottedWorker(Protocol):
    """What the manager reads of a worker it serves (jobs.worker.process.PgjobsWorker)."""

    worker_id: int | None

    def free_slots(self) -> int: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AttemptReport:
    """What the worker middleware saw of one attempt, waiting for the job's status change."""

    started_at: datetime.datetime
    outcome: worker_store.AttemptResult
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None


class JobManager(ProcrastinateJobManager):
    """procrastinate's job manager, batched, with pgjobs' worker identity and claim gate."""

    def __init__(self, connector: PsycopgConnector, claims: Claims) -> None:
        super().__init__(connector)
        self.claims = claims
        #: The name this process' workers register under (settings: ``PGJOBS_WORKER_NAME``).
        self.worker_name: str | None = None
        # Until configure() applies the settings (jobs/worker/app.py): their defaults.
        fields = Settings.model_fields
        self.flush_interval: float = fields["worker_flush_interval_seconds"].default
        self.flush_max_outcomes: int = fields["worker_flush_max_outcomes"].default
        self._workers: dict[int, SlottedWorker] = {}
        self._unregistered: list[SlottedWorker] = []
        #: worker id -> jobs claimed for it and not handed out yet.
        self._claimed: dict[int, collections.deque[Job]] = {}
        #: job id -> its own time limits (hard, soft), from the claim until it starts.
        self._limits: dict[int, tuple[float | None, float | None]] = {}
        #: job id -> the middleware's report of its attempt, until its completion takes it.
        self._reports: dict[int, AttemptReport] = {}
        self._completers: dict[int, Completer] = {}

    def configure(self, settings: Settings) -> None:
        self.worker_name = settings.worker_name
        self.flush_interval = settings.worker_flush_interval_seconds
        self.flush_max_outcomes = settings.worker_flush_max_outcomes

    def attach(self, worker: SlottedWorker) -> None:
        """Serve ``worker`` (its free slots size the claims): PgjobsApp calls it per worker."""
        self._unregistered.append(worker)

    @property
    def _pool(self) -> Pool:
        return cast(Pool, cast(PsycopgConnector, self.connector).pool)

    def _process(self) -> worker_process_store.WorkerProcess:
        hostname = os.uname().nodename
        pid = os.getpid()
        return worker_process_store.WorkerProcess(
            name=self.worker_name or f"{hostname}:{pid}", hostname=hostname, pid=pid
        )

    async def register_worker(self) -> int:
        async with self._pool.connection() as conn:
            return await worker_process_store.worker_register(
                conn, self._process(), resident_memory_bytes=resident_memory()
            )

    async def update_heartbeat(self, worker_id: int) -> None:
        figures = worker_process_store.WorkerFigures(
            jobs_finished=self.claims.jobs_finished(worker_id),
            resident_memory_bytes=resident_memory(),
            recycling_reason=self.claims.recycling_reason(worker_id),
        )
        async with self._pool.connection() as conn:
            await worker_process_store.worker_heartbeat(conn, worker_id, figures)

    # -- what the worker middleware reads and writes ------------------------------------

    def time_limits(self, job_id: int) -> tuple[float | None, float | None]:
        """The job's own ``(time_limit, soft_time_limit)`` in seconds, as claimed."""
        return self._limits.pop(job_id, (None, None))

    def report_attempt(self, job_id: int, report: AttemptReport) -> None:
        """Note how an attempt ended; its completion writes it with the status change."""
        self._reports[job_id] = report

    # -- claim ----------------------------------------------------------------------------

    async def fetch_job(self, queues: Iterable[str] | None, worker_id: int) -> Job | None:
        claimed = self._claimed.get(worker_id)
        if claimed:  # claimed already: handed out even by a retiring worker
            return claimed.popleft()
        if not self.claims.may_claim(worker_id):
            return None
        completer = self._completers.get(worker_id)
        if completer is not None:
            # What this worker finished is written before it starts anything else: a job
            # that enqueued a follow-up and ended is recorded before the follow-up starts here.
            await completer.written()
        self.claims.claim_started(worker_id)
        jobs: list[Job] = []
        try:
            async with self._pool.connection() as conn:
                rows = await worker_store.job_claim(
                    conn,
                    queues=None if queues is None else list(queues),
                    worker_id=worker_id,
                    max_jobs=self._free_slots(worker_id),
                )
            jobs = [self._remember(row) for row in rows]
        finally:
            self.claims.claim_ended(worker_id, [job.id for job in jobs if job.id is not None])
        if not jobs:
            return None
        self._claimed.setdefault(worker_id, collections.deque()).extend(jobs[1:])
        return jobs[0]

    def _remember(self, row: ClaimedJob) -> Job:
        if row.time_limit_seconds is not None or row.soft_time_limit_seconds is not None:
            self._limits[row.id] = (row.time_limit_seconds, row.soft_time_limit_seconds)
        return Job(
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

    def _free_slots(self, worker_id: int) -> int:
        worker = self._workers.get(worker_id)
        if worker is None:  # registered since the last claim: find it among those attached
            for candidate in self._unregistered:
                if candidate.worker_id == worker_id:
                    worker = self._workers[worker_id] = candidate
            self._unregistered = [w for w in self._unregistered if w.worker_id is None]
        return 1 if worker is None else worker.free_slots()

    # -- complete ---------------------------------------------------------------------------

    def released(self, job: Job) -> None:
        """A claimed job went back to its queue without running (its task is not here)."""
        assert job.id is not None
        self._limits.pop(job.id, None)
        self.claims.completed(job.worker_id, job.id)

    async def finish_job(self, job: Job, status: Status, delete_job: bool) -> None:
        final = cast(worker_store.JobStatusChange, status.value)  # succeeded, failed, aborted
        await self._complete(job, status=final, delete_job=delete_job)

    async def retry_job(
        self,
        job: Job,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        await self._complete(
            job, status="todo", retry_at=retry_at, priority=priority, queue=queue, lock=lock
        )

    async def _complete(
        self, job: Job, *, status: worker_store.JobStatusChange, **change: Any
    ) -> CompletedJob | None:
        assert job.id is not None
        assert job.worker_id is not None
        self._limits.pop(job.id, None)
        report = self._reports.pop(job.id, None)
        attempt = AttemptOutcome(job_id=job.id, attempt=job.attempts + 1, status=status, **change)
        if report is not None:
            attempt = dataclasses.replace(
                attempt,
                started_at=report.started_at,
                outcome=report.outcome,
                result=report.result,
                error_type=report.error_type,
                error_message=report.error_message,
                error_traceback=report.error_traceback,
            )
        completed = await self._completer(job.worker_id).complete(attempt)
        self.claims.completed(job.worker_id, job.id)
        return completed

    def _completer(self, worker_id: int) -> Completer:
        completer = self._completers.get(worker_id)
        if completer is None:

            async def write(outcomes: Any) -> list[CompletedJob]:
                async with self._pool.connection() as conn:
                    return await worker_store.job_complete(
                        conn, worker_id=worker_id, outcomes=outcomes
                    )

            completer = Completer(
                write, interval=self.flush_interval, max_batch=self.flush_max_outcomes
            )
            self._completers[worker_id] = completer
        return completer

    # -- stop --------------------------------------------------------------------------------

    async def unregister_worker(self, worker_id: int) -> None:
        """Write what is buffered, put back what was claimed and never started, unregister."""
        completer = self._completers.pop(worker_id, None)
        if completer is not None:
            await completer.written()
        unstarted = [job for job in self._claimed.pop(worker_id, ()) if job.id is not None]
        if unstarted:
            async with self._pool.connection() as conn:
                await worker_store.job_release(
                    conn, worker_id=worker_id, job_ids=[job.id for job in unstarted if job.id]
                )
            for job in unstarted:
                self.released(job)
        self._workers.pop(worker_id, None)
        await super().unregister_worker(worker_id)
        self.claims.forget(worker_id)


def job_manager_of(worker: Worker) -> JobManager:
    """The job manager of the app a worker runs (pgjobs' middleware needs it)."""
    manager = worker.app.job_manager
    if not isinstance(manager, JobManager):
        raise TypeError("pgjobs' worker middleware runs on pgjobs' app (jobs.worker.app)")
    return manager
