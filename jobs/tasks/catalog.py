"""Publishing the task catalog: each process tells Postgres which tasks it has.

Every worker and API process publishes, at start-up, one catalog entry per task
it has (``pgjobs_task_catalog``: name, default queue and priority, cron, the
JSON Schema of the arguments and its hash, which process on which host, which
queues a worker takes), then refreshes its ``last_seen_at`` every
``PGJOBS_CATALOG_REFRESH_SECONDS``. So the API can accept jobs for tasks whose
code it never imports (:mod:`jobs.control.catalog` reads the catalog), and a
rolling deploy, where two versions of a task's code run at once, shows up as
two schema hashes for one task.

Publishing is off the import path and off the job path: one statement at start,
one small ``UPDATE`` per interval, on a background task that logs and retries
when the database is away (a worker runs its jobs whether or not its catalog
entry is fresh).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from db import catalog_store
from db.types import Pool
from jobs.background import BackgroundTask
from jobs.settings import Settings
from jobs.tasks.registry import TaskSpec


def schema_hash(schema: dict[str, Any]) -> str:
    """sha256 of the schema's canonical JSON (sorted keys): equal schemas, equal hashes."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def published_task(spec: TaskSpec) -> catalog_store.PublishedTask:
    schema = spec.json_schema()
    return catalog_store.PublishedTask(
        task_name=spec.name,
        schema_hash=schema_hash(schema),
        args_schema=schema,
        queue_name=spec.queue,
        priority=spec.priority,
        cron=spec.cron,
        description=spec.description,
        retry=spec.retry.describe() if spec.retry is not None else None,
        time_limit=spec.time_limits.hard,
        soft_time_limit=spec.time_limits.soft,
    )


logger = logging.getLogger(__name__)


class CatalogPublisher:
    """Publish a process' tasks, then keep them marked as seen, until stopped."""

    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        specs: Iterable[TaskSpec],
        *,
        kind: str,
        worker_queues: Sequence[str] | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._tasks = [published_task(spec) for spec in specs]
        self.publisher = catalog_store.Publisher(
            process_id=uuid.uuid4(),
            process_kind=kind,
            host=socket.gethostname(),
            pid=os.getpid(),
            worker_queues=list(worker_queues) if worker_queues else None,
            task_modules=list(settings.task_modules),
        )
        self._published = asyncio.Event()
        self._background = BackgroundTask(f"pgjobs catalog ({kind})", self._run)

    def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()

    async def wait_published(self) -> None:
        """Wait until the first publication succeeded (tests; start-up ordering)."""
        await self._published.wait()

    async def publish(self) -> None:
        async with self._pool.connection() as conn:
            await catalog_store.catalog_publish(
                conn,
                self.publisher,
                self._tasks,
                forget_after_seconds=self._settings.catalog_forget_after_hours * 3600,
            )
        self._published.set()

    async def _run(self) -> None:
        interval = self._settings.catalog_refresh_seconds
        while True:
            try:
                if not self._published.is_set():
                    await self.publish()
                else:
                    async with self._pool.connection() as conn:
                        seen = await catalog_store.catalog_refresh(conn, self.publisher.process_id)
                    if not seen:  # forgotten while the database was away for long: again
                        await self.publish()
            except (psycopg.Error, PoolTimeout, OSError) as error:
                logger.warning("could not publish the task catalog (will retry): %s", error)
                await asyncio.sleep(min(interval, 5.0))
                continue
            await asyncio.sleep(interval)
