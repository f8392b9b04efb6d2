"""pgjobs' worker process: procrastinate's worker plus the task catalog and missing tasks.

:class:`PgjobsApp` is the procrastinate App of every pgjobs worker (``jobs.app``,
``build_app``); its workers are :class:`PgjobsWorker`, which adds two things
around procrastinate's loop:

* while it runs, it publishes the tasks it has in the task catalog
  (:mod:`jobs.tasks.catalog`), with the queues it takes, so the API accepts
  jobs for them without importing their code;
* a job whose task it does not have is never run, nor failed: it is put back in
  its queue for a worker that has the task (:mod:`jobs.worker.unavailable`).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import procrastinate
from procrastinate.job_context import JobContext
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.worker import Worker

from db.types import Pool
from jobs.settings import Settings, load_settings
from jobs.tasks.catalog import CatalogPublisher
from jobs.tasks.context import SETTINGS_KEY
from jobs.tasks.registry import TaskRegistry
from jobs.worker import unavailable
from jobs.worker.job_manager import JobManager

logger = logging.getLogger(__name__)


class PgjobsApp(procrastinate.App):
    """A procrastinate App that knows pgjobs' registry and runs :class:`PgjobsWorker`s."""

    def __init__(self, *, tasks: TaskRegistry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pgjobs_tasks = tasks

    def _worker(self, **kwargs: Any) -> Worker:
        worker = PgjobsWorker(app=self, **{**self.worker_defaults, **kwargs})
        if isinstance(self.job_manager, JobManager):
            self.job_manager.attach(worker)  # its free slots size the job manager's claims
        return worker


class PgjobsWorker(Worker):
    app: PgjobsApp

    def free_slots(self) -> int:
        """Slots free for jobs: the permit procrastinate's loop takes before each fetch_job
        call, plus those still free (procrastinate keeps them in an asyncio.Semaphore)."""
        return 1 + max(0, self._job_semaphore._value)

    @property
    def settings(self) -> Settings:
        found = (self.additional_context or {}).get(SETTINGS_KEY)
        return cast(Settings, found) if found is not None else load_settings()

    async def run(self) -> None:
        connector = cast(PsycopgConnector, self.app.connector)
        publisher = CatalogPublisher(
            cast(Pool, connector.pool),
            self.settings,
            [spec for spec in self.app.pgjobs_tasks if spec.name in self.app.tasks],
            kind="worker",
            worker_queues=list(self.queues) if self.queues else None,
        )
        publisher.start()
        try:
            await super().run()  # type: ignore[no-untyped-call]
        finally:
            await publisher.stop()

    async def _process_job(self, context: JobContext) -> None:
        if context.job.task_name in self.app.tasks:
            await super()._process_job(context)
            return
        try:
            await unavailable.put_back(context, self, self.settings)
        except Exception:
            # The job stays 'doing' under this live worker: stop, so that its heartbeat
            # goes stale and the stalled-job rescue gives the job to another worker.
            logger.exception(
                "could not put back job %s (task %r unavailable here); stopping the worker",
                context.job.id,
                context.job.task_name,
            )
            self.stop()  # type: ignore[no-untyped-call]
        else:
            # its claim is over: a recycling worker must not wait for it (recycling.py)
            if isinstance(self.app.job_manager, JobManager):
                self.app.job_manager.released(context.job)
