"""pgjobs' job manager: procrastinate's, plus worker identity and the claim gate.

procrastinate's worker loop calls its app's job manager to register, heartbeat,
claim jobs and write their outcome. pgjobs' job manager keeps that loop and
adds, with no extra round trip:

* **identity**: registering a worker also records which process it is
  (``pgjobs_workers``: name, host, pid), and each heartbeat carries the
  process' figures (jobs finished, resident memory, recycling state), so the
  workers page and ``/metrics`` show every process of every ``pgjobs worker``;
* **the claim gate** of :mod:`jobs.worker.recycling`: a retiring worker claims
  nothing, and every claim and completion is reported to :class:`Claims` so
  the worker stops only once all it claimed is written.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from typing import cast

from procrastinate import jobs as procrastinate_jobs
from procrastinate.manager import JobManager as ProcrastinateJobManager
from procrastinate.psycopg_connector import PsycopgConnector

from db import worker_process_store
from db.types import Pool
from jobs.worker.recycling import Claims, resident_memory


class JobManager(ProcrastinateJobManager):
    """procrastinate's job manager with pgjobs' worker identity and claim gate."""

    def __init__(self, connector: PsycopgConnector, claims: Claims) -> None:
        super().__init__(connector)
        self.claims = claims
        #: The name this process' workers register under (settings: ``PGJOBS_WORKER_NAME``).
        self.worker_name: str | None = None

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

    async def unregister_worker(self, worker_id: int) -> None:
        await super().unregister_worker(worker_id)
        self.claims.forget(worker_id)

    async def fetch_job(
        self, queues: Iterable[str] | None, worker_id: int
    ) -> procrastinate_jobs.Job | None:
        if not self.claims.may_claim(worker_id):
            return None
        self.claims.claim_started(worker_id)
        job: procrastinate_jobs.Job | None = None
        try:
            job = await super().fetch_job(queues=queues, worker_id=worker_id)
        finally:
            self.claims.claim_ended(worker_id, [job.id] if job and job.id is not None else [])
        return job

    def released(self, job: procrastinate_jobs.Job) -> None:
        """A claimed job went back to its queue without running (its task is not here)."""
        assert job.id is not None
        self.claims.completed(job.worker_id, job.id)

    async def finish_job(
        self, job: procrastinate_jobs.Job, status: procrastinate_jobs.Status, delete_job: bool
    ) -> None:
        await super().finish_job(job=job, status=status, delete_job=delete_job)
        assert job.id is not None
        self.claims.completed(job.worker_id, job.id)

    async def retry_job(
        self,
        job: procrastinate_jobs.Job,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        await super().retry_job(
            job=job, retry_at=retry_at, priority=priority, queue=queue, lock=lock
        )
        assert job.id is not None
        self.claims.completed(job.worker_id, job.id)
