"""Reading the task catalog: the tasks this process knows without importing their code.

A process that creates jobs (the API, an application calling ``enqueue``)
knows two kinds of tasks:

* the tasks it imports (its registry): their pydantic model validates the
  arguments and stays authoritative;
* the tasks other processes published (``pgjobs_task_catalog``,
  :mod:`jobs.tasks.catalog`): their arguments are validated against the
  published JSON Schema with ``jsonschema``'s Draft 2020-12 validator (the
  draft pydantic emits), and the worker validates them again with the model.

:class:`TaskDirectory` answers ``get(name)`` from both, registry first. The
catalog is read into a :class:`CatalogSnapshot` and reused for
``PGJOBS_CATALOG_CACHE_SECONDS``; a name the snapshot lacks makes
:meth:`TaskCatalog.ensure` read it again at once (concurrent misses share one
read: a miss costs one round trip, like the create it precedes), so a task a
worker published a moment ago is accepted without restarting anything.

During a rolling deploy one task can have several published schemas (one per
version of its code): arguments are accepted when they are valid for at least
one live version, the most recently seen first. Which versions exist, and
where each runs, is in ``GET /tasks`` and on the dashboard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from psycopg_pool import PoolTimeout

from db import catalog_store
from db.types import Connection, Pool
from jobs.errors import InvalidArguments, UnknownTask
from jobs.settings import Settings
from jobs.tasks.registry import TaskRegistry, TaskSpec, registry
from jobs.tasks.routing import DeclaredNames, declared_names
from jobs.tasks.time_limits import TimeLimits

logger = logging.getLogger(__name__)

#: A process is live while its last refresh is at most this many refresh intervals old.
LIVE_INTERVALS = 3
#: Most schema errors reported for one job.
MAX_SCHEMA_ERRORS = 20


@dataclass(frozen=True, slots=True)
class TaskVersion:
    """One version of a task's code: a schema hash and the processes that run it."""

    schema_hash: str
    #: Its entries, most recently seen first (one per process).
    entries: list[catalog_store.CatalogRow]

    @property
    def newest(self) -> catalog_store.CatalogRow:
        return self.entries[0]

    @property
    def last_seen_seconds_ago(self) -> float:
        return self.newest.seen_seconds_ago


@dataclass(frozen=True)
class CatalogTask:
    """A task known from the catalog only: routed and validated by what its workers published."""

    name: str
    #: Versions, the most recently seen first; the first gives queue, priority and limits.
    versions: list[TaskVersion]

    @property
    def current(self) -> catalog_store.CatalogRow:
        return self.versions[0].newest

    @property
    def queue(self) -> str:
        return self.current.queue_name

    @property
    def priority(self) -> int:
        return self.current.priority

    @property
    def time_limits(self) -> TimeLimits:
        return TimeLimits(
            hard=self.current.time_limit_seconds, soft=self.current.soft_time_limit_seconds
        )

    @property
    def callback_url(self) -> str | None:
        """None: a task's default webhook is applied where its code is imported (not published)."""
        return None

    def validate(self, args: Any) -> dict[str, Any]:
        """Accept ``args`` when one published version's schema does; else its errors (newest)."""
        first_errors: list[dict[str, Any]] | None = None
        for version in self.versions:
            errors = schema_errors(version.schema_hash, version.newest.args_schema, args)
            if not errors:
                assert isinstance(args, dict)  # every pydantic model's schema is an object
                return args
            if first_errors is None:
                first_errors = errors
        raise InvalidArguments(self.name, first_errors or [])


_validators: dict[str, Draft202012Validator] = {}


def schema_errors(hash_: str, schema: dict[str, Any], instance: Any) -> list[dict[str, Any]]:
    """JSON Schema errors shaped like pydantic's (``loc``, ``msg``, ``type``).

    Validators are built once per schema hash (the hash names the schema's content).
    """
    validator = _validators.get(hash_)
    if validator is None:
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        _validators[hash_] = validator
    errors: list[dict[str, Any]] = []
    for error in sorted(validator.iter_errors(instance), key=_error_order)[:MAX_SCHEMA_ERRORS]:
        errors.append(_as_pydantic_error(error))
    return errors


def _error_order(error: SchemaError) -> tuple[str, ...]:
    return tuple(str(part) for part in error.absolute_path)


def _as_pydantic_error(error: SchemaError) -> dict[str, Any]:
    loc: list[Any] = list(error.absolute_path)
    kind = str(error.validator)
    if kind == "required" and isinstance(error.instance, dict):
        # one error per missing property, located at the property (as pydantic does)
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in error.instance]
        named = [name for name in missing if repr(name) in error.message]
        return {
            "loc": [*loc, *(named[:1] or missing[:1])],
            "msg": "Field required",
            "type": "missing",
        }
    return {"loc": loc, "msg": error.message, "type": f"json_schema.{kind}"}


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    """The catalog as read once, grouped by task and version."""

    tasks: dict[str, CatalogTask] = field(default_factory=dict)
    #: time.monotonic() of the read (0: never read).
    read_at: float = 0.0

    @classmethod
    def from_rows(cls, rows: Iterable[catalog_store.CatalogRow], read_at: float) -> CatalogSnapshot:
        by_task: dict[str, dict[str, list[catalog_store.CatalogRow]]] = {}
        for row in rows:  # ordered by task, most recently seen first
            by_task.setdefault(row.task_name, {}).setdefault(row.schema_hash, []).append(row)
        return cls(
            tasks={
                name: CatalogTask(
                    name=name,
                    versions=[TaskVersion(hash_, entries) for hash_, entries in versions.items()],
                )
                for name, versions in by_task.items()
            },
            read_at=read_at,
        )


class TaskCatalog:
    """A process' cached view of ``pgjobs_task_catalog``."""

    def __init__(self, settings: Settings) -> None:
        #: An entry refreshed within this many seconds belongs to a live process.
        self.live_seconds = LIVE_INTERVALS * settings.catalog_refresh_seconds
        self._forget_after = settings.catalog_forget_after_hours * 3600
        self._cache_seconds = settings.catalog_cache_seconds
        self.snapshot = CatalogSnapshot()
        self._lock = asyncio.Lock()

    async def refresh(self, conn: Connection) -> CatalogSnapshot:
        """Read the catalog; callers arriving while a read is under way share the next one."""
        asked_at = time.monotonic()
        async with self._lock:
            if self.snapshot.read_at > asked_at:  # read while we waited for the lock
                return self.snapshot
            rows = await catalog_store.catalog_list(conn, forget_after_seconds=self._forget_after)
            self.snapshot = CatalogSnapshot.from_rows(rows, time.monotonic())
        return self.snapshot

    def is_live(self, entry: catalog_store.CatalogRow) -> bool:
        return entry.seen_seconds_ago <= self.live_seconds

    async def keep_fresh(self, pool: Pool) -> None:
        """Re-read the catalog every ``PGJOBS_CATALOG_CACHE_SECONDS`` (at least every second),
        so what is read without a connection (OpenAPI, the dashboard) follows publications.
        Run as a background task; database errors are retried at the next interval."""
        interval = max(self._cache_seconds, 1.0)
        while True:
            try:
                async with pool.connection() as conn:
                    await self.refresh(conn)
            except (psycopg.Error, PoolTimeout, OSError) as error:
                logger.debug("could not read the task catalog (will retry): %s", error)
            await asyncio.sleep(interval)

    async def ensure(self, conn: Connection, names: Iterable[str] = ()) -> CatalogSnapshot:
        """The snapshot, read again if it is stale or lacks one of ``names``."""
        age = time.monotonic() - self.snapshot.read_at
        missing = any(name not in self.snapshot.tasks for name in names)
        if age > self._cache_seconds or missing:
            return await self.refresh(conn)
        return self.snapshot


class TaskDirectory:
    """The tasks a process can create jobs for: its registry, then the catalog."""

    def __init__(self, tasks: TaskRegistry = registry, catalog: TaskCatalog | None = None) -> None:
        self.registry = tasks
        self.catalog = catalog
        self._declared: tuple[float, DeclaredNames] | None = None

    def get(self, name: str) -> TaskSpec | CatalogTask:
        if name in self.registry:
            return self.registry.get(name)
        if self.catalog is not None and name in self.catalog.snapshot.tasks:
            return self.catalog.snapshot.tasks[name]
        raise UnknownTask(name, self.names())

    def names(self) -> list[str]:
        """Every task name known here (registry and catalog)."""
        published = self.catalog.snapshot.tasks if self.catalog is not None else {}
        return sorted({spec.name for spec in self.registry} | set(published))

    def __iter__(self) -> Iterator[TaskSpec | CatalogTask]:
        return (self.get(name) for name in self.names())

    def queues(self) -> set[str]:
        """Every queue a known task uses by default or a published worker takes."""
        queues = self.registry.queues()
        if self.catalog is not None:
            for task in self.catalog.snapshot.tasks.values():
                for version in task.versions:
                    for entry in version.entries:
                        queues.add(entry.queue_name)
                        queues.update(entry.worker_queues or ())
        return queues

    def declared(self, extra_queues: Iterable[str]) -> DeclaredNames:
        """The known tasks and queues (imported, published, ``PGJOBS_EXTRA_QUEUES``): the
        names that metric labels and dashboard lists show (the "set of known queues/tasks").
        Recomputed only when the catalog was read again."""
        read_at = self.catalog.snapshot.read_at if self.catalog is not None else 0.0
        if self._declared is None or self._declared[0] != read_at:
            local = declared_names(self.registry, extra_queues)
            self._declared = (
                read_at,
                DeclaredNames(
                    queues=local.queues | frozenset(self.queues()),
                    tasks=frozenset(self.names()),
                ),
            )
        return self._declared[1]

    async def ensure(self, conn: Connection, names: Iterable[str]) -> None:
        """Make sure the catalog is fresh enough to answer for ``names`` (registry names cost
        nothing: no query is made when every name is imported here)."""
        unknown = [name for name in names if name not in self.registry]
        if unknown and self.catalog is not None:
            await self.catalog.ensure(conn, unknown)

    async def refresh_if_stale(self, conn: Connection) -> None:
        """Read the catalog again if the cached copy is older than the cache setting."""
        if self.catalog is not None:
            await self.catalog.ensure(conn)

    async def refresh(self, conn: Connection) -> None:
        """Read the catalog now (listings: GET /tasks, the dashboard's Tasks page)."""
        if self.catalog is not None:
            await self.catalog.refresh(conn)

    async def ensure_with_pool(self, pool: Pool, names: Iterable[str]) -> None:
        """:meth:`ensure`, taking a connection from ``pool`` only when one is needed."""
        unknown = [name for name in names if name not in self.registry]
        if unknown and self.catalog is not None:
            async with pool.connection() as conn:
                await self.catalog.ensure(conn, unknown)
