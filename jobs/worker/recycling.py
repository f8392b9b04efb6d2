"""Recycling: a worker process that ran N jobs, or grew past a memory size, is replaced.

Libraries that leak (video codecs, model runtimes, C extensions) grow a
long-lived worker until the kernel kills it mid-job. Celery's answer is
``max_tasks_per_child``; pgjobs' is ``--max-jobs-per-process N`` and
``--max-memory-per-process SIZE`` (``PGJOBS_WORKER_MAX_JOBS_PER_PROCESS``,
``PGJOBS_WORKER_MAX_MEMORY_PER_PROCESS``).

How a process retires, without losing or repeating a job:

1. After each job, :class:`Recycler` (worker middleware) counts it and reads
   the process' resident memory. When a limit is reached it closes the
   worker's :class:`Claims`: the job manager claims nothing more for it.
2. It tells its supervisor (``pgjobs worker``) on the supervisor's pipe, which
   starts the replacement at once, so jobs keep flowing during the drain.
3. When every job the worker claimed has had its final status written (the job
   manager reports completions to :class:`Claims`), it stops the worker. Its
   shutdown finds nothing running: nothing is aborted, nothing is requeued; it
   unregisters and the process exits 0.

While it drains it keeps heartbeating like any worker (so it is never taken for
dead), and a SIGTERM still means a normal graceful shutdown. Without a
supervisor (a plain ``procrastinate worker`` under systemd or Docker) the
process exits the same way and its restart policy replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import psutil
from procrastinate.job_context import JobContext
from procrastinate.middleware import AsyncCallNext
from procrastinate.worker import Worker

from jobs.settings import Settings

logger = logging.getLogger(__name__)


def resident_memory() -> int:
    """This process' resident set size in bytes (what the kernel's OOM killer looks at)."""
    return int(psutil.Process().memory_info().rss)


@dataclass(frozen=True, slots=True)
class RecyclePolicy:
    """When a worker process retires; None for a limit means "never for that reason"."""

    max_jobs: int | None = None
    max_memory_bytes: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RecyclePolicy:
        memory = settings.worker_max_memory_per_process
        return cls(
            max_jobs=settings.worker_max_jobs_per_process,
            max_memory_bytes=int(memory) if memory is not None else None,
        )

    @property
    def enabled(self) -> bool:
        return self.max_jobs is not None or self.max_memory_bytes is not None

    def reason_to_retire(self, jobs_finished: int, memory_bytes: int | None) -> str | None:
        """Why a process with these figures must retire, or None."""
        if self.max_jobs is not None and jobs_finished >= self.max_jobs:
            return f"max jobs: {jobs_finished} >= {self.max_jobs}"
        if (
            self.max_memory_bytes is not None
            and memory_bytes is not None
            and memory_bytes >= self.max_memory_bytes
        ):
            return f"max memory: {_mib(memory_bytes)} >= {_mib(self.max_memory_bytes)}"
        return None


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


@dataclass(eq=False)
class _WorkerClaims:
    open: bool = True
    #: Claims in progress (a claim that started before the close may still return jobs).
    claiming: int = 0
    #: Jobs claimed whose final status is not written yet.
    in_flight: set[int] = field(default_factory=set)
    jobs_finished: int = 0
    recycling_reason: str | None = None
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def check_drained(self) -> None:
        if not self.open and not self.claiming and not self.in_flight:
            self.drained.set()


class Claims:
    """Per worker: whether it may claim jobs, and which claimed jobs are not completed.

    The job manager asks :meth:`may_claim` before claiming, brackets each claim
    with :meth:`claim_started` / :meth:`claim_ended`, and reports each written
    final status (or retry) with :meth:`completed`. That is all recycling needs
    from it, whatever its claim and completion statements look like.
    """

    def __init__(self) -> None:
        self._workers: dict[int, _WorkerClaims] = {}

    def _get(self, worker_id: int) -> _WorkerClaims:
        return self._workers.setdefault(worker_id, _WorkerClaims())

    def may_claim(self, worker_id: int) -> bool:
        return self._get(worker_id).open

    def claim_started(self, worker_id: int) -> None:
        self._get(worker_id).claiming += 1

    def claim_ended(self, worker_id: int, job_ids: list[int]) -> None:
        state = self._get(worker_id)
        state.claiming -= 1
        state.in_flight.update(job_ids)
        state.check_drained()

    def completed(self, worker_id: int | None, job_id: int) -> None:
        states = [self._workers.get(worker_id)] if worker_id is not None else []
        for state in states or list(self._workers.values()):
            if state is not None and job_id in state.in_flight:
                state.in_flight.discard(job_id)
                state.jobs_finished += 1
                state.check_drained()
                return

    def close(self, worker_id: int, reason: str) -> None:
        """Claim nothing more for this worker; :meth:`drained` is set once its jobs completed."""
        state = self._get(worker_id)
        state.open = False
        state.recycling_reason = reason
        state.check_drained()

    async def drained(self, worker_id: int) -> None:
        await self._get(worker_id).drained.wait()

    def jobs_finished(self, worker_id: int) -> int:
        return self._get(worker_id).jobs_finished

    def recycling_reason(self, worker_id: int) -> str | None:
        return self._get(worker_id).recycling_reason

    def forget(self, worker_id: int) -> None:
        """Drop a worker that unregistered."""
        self._workers.pop(worker_id, None)


class Recycler:
    """Worker middleware: retire the process once its :class:`RecyclePolicy` says so."""

    def __init__(self, claims: Claims) -> None:
        self.claims = claims
        self.policy = RecyclePolicy()
        self.supervisor_fd: int | None = None
        self._retirements: set[asyncio.Task[None]] = set()

    def configure(self, settings: Settings) -> None:
        self.policy = RecyclePolicy.from_settings(settings)
        self.supervisor_fd = settings.supervisor_fd

    async def __call__(self, call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
        try:
            return await call_next()
        finally:
            if self.policy.enabled and worker.worker_id is not None:
                self._check(worker, worker.worker_id)

    def _check(self, worker: Worker, worker_id: int) -> None:
        if not self.claims.may_claim(worker_id):
            return  # already retiring
        # this job's completion is reported after the middleware returns: count it now
        jobs_finished = self.claims.jobs_finished(worker_id) + 1
        memory = resident_memory() if self.policy.max_memory_bytes is not None else None
        reason = self.policy.reason_to_retire(jobs_finished, memory)
        if reason is None:
            return
        logger.warning(
            "worker %s (pid %s) is recycling (%s): it claims no more jobs, finishes the "
            "ones it runs and exits",
            worker.worker_name,
            os.getpid(),
            reason,
        )
        self.claims.close(worker_id, reason)
        self._announce(reason)
        task = asyncio.get_running_loop().create_task(
            self._stop_when_drained(worker, worker_id), name="pgjobs recycling"
        )
        self._retirements.add(task)
        task.add_done_callback(self._retirements.discard)

    def _announce(self, reason: str) -> None:
        """Ask the supervisor, if any, to start this process' replacement now."""
        if self.supervisor_fd is None:
            return
        try:
            os.write(self.supervisor_fd, f"retiring {os.getpid()} {reason}\n".encode())
        except OSError as error:  # the supervisor went away: its restart policy takes over
            logger.warning("could not tell the supervisor about the recycling: %s", error)

    async def _stop_when_drained(self, worker: Worker, worker_id: int) -> None:
        await self.claims.drained(worker_id)
        logger.info("worker %s drained: stopping it for its replacement", worker.worker_name)
        worker.stop()  # type: ignore[no-untyped-call]
