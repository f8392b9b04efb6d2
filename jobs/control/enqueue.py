"""Create jobs: the one path used by the HTTP API, batches and application code.

A job is asked for as a :class:`JobCreate`, validated once against its task by
:func:`prepare` (which resolves the task's defaults into the ``NewJob`` the store
inserts), and comes back as the ``JobRow`` every read of a job returns.
:func:`create_job` is the whole use case of ``POST /jobs`` (the route only maps
HTTP); batches (``batches.py``) share :func:`prepare` and :func:`defer_prepared`.

``enqueue(conn, "task", args)`` defers on the caller's connection and inside
the caller's transaction: commit and the job exists (and a worker is woken);
roll back and neither the application's rows nor the job exist.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from db import job_store
from db.idempotency_store import KeyClaim
from db.job_store import JobRow
from db.types import Connection
from jobs.control import idempotency
from jobs.control.actions import JobDetail, get_job
from jobs.control.catalog import TaskCatalog, TaskDirectory
from jobs.errors import AlreadyEnqueued, InvalidJobOptions
from jobs.settings import load_settings
from jobs.tasks.callback_urls import CallbackPolicy, check_callback_shape
from jobs.tasks.callback_urls import resolve as resolve_callback
from jobs.tasks.registry import TaskRegistry, check_priority, check_queue, registry
from jobs.tasks.time_limits import TimeLimits, job_time_limits

#: How far ahead a job may be scheduled; beyond it is almost surely a unit mistake.
MAX_SCHEDULE_AHEAD = datetime.timedelta(days=366)
#: Slack for clocks: a schedule_at this far in the past still counts as "now".
PAST_TOLERANCE = datetime.timedelta(seconds=5)
#: What an Idempotency-Key's fingerprint names a job creation by (kept as it was when
#: keys were first stored: a changed name would make every live key look reused).
CREATE_JOB_ENDPOINT = "POST /jobs"


class JobCreate(BaseModel):
    """One job as a caller asks for it: a task name, its arguments, placement and timing.

    The body of ``POST /jobs``, an item of ``POST /batches``, and what
    :func:`enqueue` builds from its arguments. :func:`prepare` validates it
    against its task and resolves it into the row the store inserts.
    """

    model_config = ConfigDict(extra="forbid")

    task: str = Field(
        min_length=1, max_length=128, description="Registered task name (GET /tasks)."
    )
    args: dict[str, Any] = Field(default_factory=dict, description="Validated by the task's model.")
    queue: str | None = Field(default=None, description="Overrides the task's default queue.")
    priority: int | None = Field(default=None, description="Higher runs first; -1000..1000.")
    schedule_at: AwareDatetime | None = Field(default=None, description="Run no earlier than this.")
    schedule_in: float | None = Field(default=None, description="Run no earlier than in N seconds.")
    lock: str | None = Field(
        default=None, max_length=200, description="Jobs sharing a lock never run at the same time."
    )
    queueing_lock: str | None = Field(
        default=None,
        max_length=200,
        description="At most one queued job per queueing lock (else 409).",
    )
    unique: bool = Field(
        default=False,
        description="Refuse (409) while an identical job (same task and arguments) is queued.",
    )
    time_limit: float | None = Field(
        default=None,
        description="Hard limit per attempt in seconds (> 0): the attempt is stopped and fails "
        "with TimeLimitExceeded. Overrides the task's default.",
    )
    soft_time_limit: float | None = Field(
        default=None,
        description="Soft limit per attempt in seconds (> 0, at most the hard limit): the task "
        "is told to wrap up. Overrides the task's default.",
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2000,
        description="http(s) URL on the allow-list (PGJOBS_CALLBACK_ALLOWED_HOSTS) that gets a "
        "signed POST when the job reaches a final state; overrides the task's default "
        "(docs/callbacks.md).",
    )


class TaskDefinition(Protocol):
    """What creating a job needs of its task: a registry's TaskSpec or a published CatalogTask."""

    @property
    def name(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def time_limits(self) -> TimeLimits: ...
    @property
    def callback_url(self) -> str | None: ...
    def validate(self, args: Any) -> dict[str, Any]: ...


class TaskLookup(Protocol):
    def get(self, name: str) -> TaskDefinition: ...


@dataclass(frozen=True, slots=True)
class Created:
    """What a create request got: the job it created, or (``replayed``) the one its
    Idempotency-Key created the first time."""

    detail: JobDetail
    replayed: bool


def prepare(request: JobCreate, *, tasks: TaskLookup = registry) -> job_store.NewJob:
    """Validate one request against its task, and resolve what it left to the task.

    The task is one this process imports, or (``tasks`` a TaskDirectory) one a worker
    published in the task catalog, validated against its published JSON Schema.

    Raises UnknownTask, InvalidArguments or InvalidJobOptions; nothing is written.
    """
    spec = tasks.get(request.task)
    args = spec.validate(request.args)
    queue = check_queue(request.queue) if request.queue is not None else spec.queue
    priority = check_priority(request.priority) if request.priority is not None else spec.priority
    queueing_lock = request.queueing_lock
    if request.unique:
        if queueing_lock is not None:
            raise InvalidJobOptions("unique", "give unique or queueing_lock, not both")
        queueing_lock = unique_lock(spec.name, args)
    job_time_limits(spec.time_limits, request.time_limit, request.soft_time_limit)
    callback_url = request.callback_url or spec.callback_url
    if callback_url is not None:
        check_callback_shape(callback_url)
    return job_store.NewJob(
        task=spec.name,
        args=args,
        queue=queue,
        priority=priority,
        scheduled_at=_scheduled_at(request.schedule_at, request.schedule_in),
        lock=request.lock,
        queueing_lock=queueing_lock,
        time_limit=request.time_limit,
        soft_time_limit=request.soft_time_limit,
        callback_url=callback_url,
    )


async def check_callbacks(
    new_jobs: Sequence[job_store.NewJob], policy: CallbackPolicy, *, batch: bool = False
) -> None:
    """Refuse jobs whose callback URL the policy does not allow, after DNS (each URL once).

    The API calls it at creation: a 422 naming ``callback_url`` (``jobs.<index>.callback_url``
    in a batch). Every delivery checks again, since DNS answers change.
    """
    checked: set[str] = set()
    for index, job in enumerate(new_jobs):
        if job.callback_url is None or job.callback_url in checked:
            continue
        field = f"jobs.{index}.callback_url" if batch else "callback_url"
        await resolve_callback(job.callback_url, policy, field)
        checked.add(job.callback_url)


def unique_lock(task: str, args: dict[str, Any]) -> str:
    """The queueing lock of a unique job: its task and a hash of its canonical arguments.

    Arguments are hashed after validation, so defaults and key order do not make
    two requests for the same work look different. procrastinate's unique index
    on queueing locks of queued jobs then refuses the second one, race-free.
    """
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"unique:{task}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _scheduled_at(
    schedule_at: datetime.datetime | None, schedule_in: float | None
) -> datetime.datetime | None:
    now = datetime.datetime.now(datetime.UTC)
    if schedule_at is not None and schedule_in is not None:
        raise InvalidJobOptions("schedule_at", "give schedule_at or schedule_in, not both")
    if schedule_in is not None:
        if schedule_in < 0:
            raise InvalidJobOptions("schedule_in", "must be >= 0 seconds")
        if datetime.timedelta(seconds=schedule_in) > MAX_SCHEDULE_AHEAD:
            raise InvalidJobOptions("schedule_in", "must be at most 366 days")
        return now + datetime.timedelta(seconds=schedule_in) if schedule_in > 0 else None
    if schedule_at is not None:
        if schedule_at.tzinfo is None:
            raise InvalidJobOptions("schedule_at", "must include a time zone (e.g. ...Z)")
        if schedule_at < now - PAST_TOLERANCE:
            raise InvalidJobOptions("schedule_at", "is in the past")
        if schedule_at - now > MAX_SCHEDULE_AHEAD:
            raise InvalidJobOptions("schedule_at", "must be at most 366 days ahead")
        return schedule_at
    return None


async def defer_prepared(
    conn: Connection,
    new_jobs: Sequence[job_store.NewJob],
    *,
    created_by: str | None,
    batch_id: uuid.UUID | None = None,
    idempotency: KeyClaim | None = None,
) -> list[JobRow]:
    """Insert validated jobs in one statement on ``conn`` (no commit).

    With ``batch_id`` the statement also creates that batch; with ``idempotency``
    it claims the key for the job or batch (raising
    ``job_store.IdempotencyKeyTaken`` when the key is live: see idempotency.py).
    """
    try:
        return await job_store.job_defer_many(
            conn, new_jobs, created_by=created_by, batch_id=batch_id, idempotency=idempotency
        )
    except job_store.QueueingLockTaken as taken:
        raise AlreadyEnqueued(taken.lock or taken.args[0]) from None


async def create_job(
    conn: Connection,
    request: JobCreate,
    *,
    created_by: str | None,
    idempotency_key: str | None = None,
    idempotency_ttl_seconds: float | None = None,
    tasks: TaskRegistry | TaskDirectory = registry,
    callbacks: CallbackPolicy | None = None,
) -> Created:
    """Create one job: validate, then insert it (and claim its key) in one statement.

    Without an ``idempotency_key`` or with a fresh one, that statement is the
    whole use case: one round trip (on an autocommit connection, the pool's).
    A key already used by the same request replays the job it created; with
    another request it raises ``IdempotencyKeyReused``. Keys are scoped to
    ``created_by`` and live ``idempotency_ttl_seconds``. Raises UnknownTask,
    InvalidArguments, InvalidJobOptions or AlreadyEnqueued otherwise; nothing
    is written then. A task known only from the task catalog costs a read of it
    when the cached copy lacks the task (TaskDirectory.ensure).
    With ``callbacks`` (the API's) a callback URL is checked against
    the allow-list and after DNS (CallbackRefused, a 422); without, only its shape.
    """
    if isinstance(tasks, TaskDirectory):
        await tasks.ensure(conn, [request.task])
    new_job = prepare(request, tasks=tasks)
    if callbacks is not None:
        await check_callbacks([new_job], callbacks)
    key = idempotency.claim_for(
        idempotency_key,
        scope=created_by,
        endpoint=CREATE_JOB_ENDPOINT,
        request=request,
        ttl_seconds=idempotency_ttl_seconds,
    )

    async def insert() -> JobRow:
        (created,) = await defer_prepared(conn, [new_job], created_by=created_by, idempotency=key)
        return created

    outcome = await idempotency.create_once(conn, key, insert)
    if isinstance(outcome, idempotency.Replay):
        assert outcome.job_id is not None, "the fingerprint names the endpoint: a job key"
        return Created(detail=await get_job(conn, outcome.job_id), replayed=True)
    return Created(detail=JobDetail(job=outcome, events=[], attempts=[]), replayed=False)


async def enqueue(
    conn: Connection,
    task: str,
    args: Any,
    *,
    queue: str | None = None,
    priority: int | None = None,
    schedule_at: datetime.datetime | None = None,
    schedule_in: float | None = None,
    lock: str | None = None,
    queueing_lock: str | None = None,
    unique: bool = False,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    callback_url: str | None = None,
    created_by: str | None = "app",
    tasks: TaskRegistry = registry,
    catalog: TaskCatalog | None = None,
) -> JobRow:
    """Create one job on the caller's connection and transaction; the caller commits.

    >>> async with pool.connection() as conn, conn.transaction():
    ...     invoice = await invoices.create(conn, total=42)  # the app's own write
    ...     await enqueue(conn, "llm.generate", {"prompt": f"Summarise {invoice.id}"})

    ``args`` may be a dict or an instance of the task's model. The options are
    checked by the task as those of ``POST /jobs`` are (UnknownTask,
    InvalidArguments, InvalidJobOptions; AlreadyEnqueued on a taken queueing lock).

    The task need not be imported by the caller: a task some worker published in
    the task catalog is validated against its published JSON Schema (read on
    ``conn`` and cached by the process, or by ``catalog``).
    A ``callback_url`` is checked for its shape here; its host and addresses at every
    delivery (a refused one ends as a dead letter saying why).
    """
    # model_construct: the fields are the caller's own Python values, checked by prepare()
    # against the task (the HTTP body's own type checks are FastAPI's, before this point).
    request = JobCreate.model_construct(
        task=task,
        args=args,
        queue=queue,
        priority=priority,
        schedule_at=schedule_at,
        schedule_in=schedule_in,
        lock=lock,
        queueing_lock=queueing_lock,
        unique=unique,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        callback_url=callback_url,
    )
    directory = TaskDirectory(tasks, catalog if catalog is not None else application_catalog())
    created = await create_job(conn, request, created_by=created_by, tasks=directory)
    return created.detail.job


_application_catalog: TaskCatalog | None = None


def application_catalog() -> TaskCatalog:
    """The catalog cache ``enqueue`` uses in this process (built on first use, from settings)."""
    global _application_catalog
    if _application_catalog is None:
        _application_catalog = TaskCatalog(load_settings())
    return _application_catalog
