"""The one settings class of pgjobs.

Built explicitly (``load_settings()`` in the app factory, the CLI and the
worker's pool factory), never at import time, so tests can pass
``Settings(...)`` directly and two differently configured apps can coexist.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from croniter import croniter
from pydantic import (
    AliasChoices,
    ByteSize,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024
#: A dotted module path: ``myapp.tasks``.
IMPORT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: An origin as browsers send it: scheme, host and an optional port, nothing else.
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class SettingsError(Exception):
    """Settings failed validation; the message names every bad variable."""


class Settings(BaseSettings):
    """pgjobs configuration, from ``DATABASE_URL`` and ``PGJOBS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="PGJOBS_", extra="ignore", frozen=True)

    #: libpq URL of the Postgres that holds jobs; ``None`` means "start an embedded one" (dev only).
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PGJOBS_DATABASE_URL")
    )
    #: ``dev`` allows the embedded Postgres; ``production`` requires ``DATABASE_URL``.
    environment: Literal["dev", "test", "production"] = "dev"
    #: Interface and port of the HTTP API.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    #: Requests with a larger body are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=MIB, gt=0)
    #: The same limit for ``POST /batches``, whose 10,000 jobs need more room than one job.
    max_batch_body_bytes: int = Field(default=16 * MIB, gt=0)
    #: Seconds an Idempotency-Key names what it created; after that it may be reused.
    idempotency_ttl_seconds: float = Field(default=24 * 3600.0, gt=0)
    #: Connection pool bounds for one process (API + procrastinate share it).
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    #: Seconds to wait for a pooled connection before answering 503.
    pool_timeout: float = Field(default=10.0, gt=0)
    #: Jobs a worker runs at once (``procrastinate worker --concurrency`` overrides it).
    worker_concurrency: int = Field(default=4, ge=1)
    #: A worker whose heartbeat is older than this is not counted as alive by /health,
    #: and the jobs it was running are rescued (docs/reliability.md).
    worker_stalled_after_seconds: float = Field(default=30.0, gt=0)
    #: Seconds between a worker's heartbeats; at most half of worker_stalled_after_seconds.
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0)
    #: Batched completion (docs/performance.md): a worker writes the outcomes of finished
    #: jobs in one statement per flush, up to worker_flush_max_outcomes, waiting at most this
    #: many seconds for more to gather (what finishes during a flush goes into the next).
    worker_flush_interval_seconds: float = Field(default=0.002, ge=0, le=1)
    worker_flush_max_outcomes: int = Field(default=100, ge=1, le=10_000)
    #: On SIGTERM, seconds running jobs get to finish before they are aborted and requeued.
    worker_shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    #: Stalled-job rescue: on, its cron (a 6th field, last, counts seconds), and how many times a
    #: job of a task without a retry policy runs before a lost attempt fails it.
    rescue_enabled: bool = True
    rescue_cron: str = "* * * * * */10"
    rescue_max_attempts: int = Field(default=3, ge=1)
    #: Retention: on, its cron, and how long finished jobs are kept, by final status.
    retention_enabled: bool = True
    retention_cron: str = "*/10 * * * *"
    retention_succeeded_days: float = Field(default=7.0, gt=0)
    retention_failed_days: float = Field(default=30.0, gt=0)
    retention_cancelled_days: float = Field(default=7.0, gt=0)
    retention_aborted_days: float = Field(default=7.0, gt=0)
    #: Succeeded runs of pgjobs' own maintenance tasks (one every 10 s) are kept this long.
    retention_maintenance_hours: float = Field(default=1.0, gt=0)
    #: Jobs deleted per retention transaction (short transactions, short locks).
    retention_batch_size: int = Field(default=1000, ge=1, le=100_000)
    #: A worker stops itself (for its supervisor to restart it) once this many sync task
    #: threads it abandoned at their hard time limit are still running (docs/controls.md).
    worker_max_abandoned_threads: int = Field(default=2, ge=1)
    #: Largest JSON result a task may return: a larger one fails the attempt (ResultTooLarge,
    #: never retried). Store big artifacts elsewhere and return their location.
    max_result_bytes: int = Field(default=MIB, gt=0)
    #: Error messages and tracebacks longer than this are stored cut, with a note.
    max_error_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Completion webhooks (docs/callbacks.md): hosts a callback_url may name (comma-separated;
    #: ``api.example.com``, ``*.example.com``, or ``*`` for any; empty: callbacks refused),
    #: whether private/loopback/link-local addresses are allowed (off: refused after DNS),
    #: the HMAC-SHA256 signing secret (required once a host is allowed), and the sending:
    #: per-attempt timeout, attempts before the delivery is dead-lettered, backoff bounds.
    callback_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    callback_allow_private_networks: bool = False
    callback_secret: SecretStr | None = None
    callback_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    callback_max_attempts: int = Field(default=8, ge=1, le=100)
    callback_retry_initial_delay_seconds: float = Field(default=10.0, ge=0, le=3600)
    callback_retry_max_delay_seconds: float = Field(default=3600.0, ge=0, le=86400)
    #: Worker processes ``pgjobs worker`` runs side by side (``--processes``), each restarted
    #: on its own: for CPU-bound sync tasks that one Python process cannot parallelise.
    worker_processes: int = Field(default=1, ge=1, le=256)
    #: Recycling (docs/processes.md): a worker process that finished this many jobs, or whose
    #: resident memory passed this size (``512MiB``, ``2GB``, bytes), stops claiming, finishes
    #: its running jobs, exits and is replaced. Unset: never.
    worker_max_jobs_per_process: int | None = Field(default=None, ge=1)
    worker_max_memory_per_process: ByteSize | None = Field(default=None, gt=0)
    #: The worker's name on the workers page and in /metrics; ``pgjobs worker`` sets it for
    #: each of its processes (``<name>#<slot>``). Unset: ``<host>:<pid>``.
    worker_name: str | None = Field(
        default=None,
        max_length=200,
        validation_alias=AliasChoices("PGJOBS_WORKER_NAME", "PROCRASTINATE_WORKER_NAME"),
    )
    #: Set by ``pgjobs worker`` for its children: the pipe on which a recycling child tells its
    #: supervisor to start its replacement. Not a user setting.
    supervisor_fd: int | None = Field(default=None, ge=0)
    #: Queues workers may be started on besides the tasks' default queues (comma-separated),
    #: for jobs routed elsewhere at creation; ``pgjobs worker --queues`` refuses any other name.
    extra_queues: Annotated[tuple[str, ...], NoDecode] = ()
    #: Readiness (GET /health/ready): queues that must be served (comma-separated), and the
    #: longest a runnable job may wait in one of them before the process is not ready.
    ready_queues: Annotated[tuple[str, ...], NoDecode] = ()
    ready_max_queue_lag_seconds: float = Field(default=60.0, gt=0)
    #: Seconds between the background checks whose last result GET /health reports.
    health_check_interval_seconds: float = Field(default=5.0, gt=0)
    #: Seconds /metrics and the dashboard reuse their SQL figures (queued/running counts,
    #: queue lag, workers), and the most the totals by state (a full scan of the jobs
    #: table, re-read sooner when it is cheap: jobs/queue_stats.py) are reused.
    metrics_cache_seconds: float = Field(default=2.0, ge=0)
    metrics_totals_cache_seconds: float = Field(default=30.0, ge=0)
    #: Live streams (SSE): messages buffered per client before a slow one is dropped (it
    #: reconnects and resumes), streams per API process, keep-alive interval, and how long
    #: an event id skipped by an uncommitted transaction is waited for (docs/observability.md).
    events_client_buffer: int = Field(default=1000, ge=10)
    events_max_clients: int = Field(default=1000, ge=1)
    events_keepalive_seconds: float = Field(default=15.0, gt=0)
    events_gap_grace_seconds: float = Field(default=10.0, gt=0)
    #: Task modules this process imports (comma-separated import paths, e.g.
    #: ``myapp.tasks,myapp.reports``): their tasks are what workers run and what the API
    #: validates itself. ``pgjobs dev`` loads the demo tasks (``jobs.examples``) when none
    #: is given; pgjobs' maintenance tasks are always loaded (docs/tasks.md).
    task_modules: Annotated[tuple[str, ...], NoDecode] = ()
    #: A job whose task no worker that takes it has keeps going back to its queue (with
    #: backoff) for this long, measured from the first worker that lacked it; then it fails
    #: with ``TaskNotAvailable`` (docs/tasks.md).
    task_unavailable_timeout_seconds: float = Field(default=3600.0, gt=0)
    #: Seconds between a process' refreshes of its entries in the task catalog (last seen).
    catalog_refresh_seconds: float = Field(default=30.0, gt=0)
    #: Seconds the API reuses what it read of the task catalog (a miss re-reads it at once).
    catalog_cache_seconds: float = Field(default=2.0, ge=0)
    #: A process silent this long drops out of the task catalog (and its tasks with it,
    #: unless another process publishes them).
    catalog_forget_after_hours: float = Field(default=168.0, gt=0)
    #: Where ``pgjobs dev`` keeps its embedded Postgres.
    data_dir: Path = Path(".pgjobs")
    #: Page size of GET /jobs when the client gives none, and its upper bound.
    default_page_size: int = Field(default=50, ge=1, le=1000)
    max_page_size: int = Field(default=500, ge=1, le=10_000)
    #: ``required``: every request needs an API key (``Authorization: Bearer``) or a dashboard
    #: session. ``off``: anyone may do anything, so the API then answers loopback clients only
    #: (what ``pgjobs dev`` runs with); ``PGJOBS_ENVIRONMENT=production`` refuses it.
    auth: Literal["required", "off"] = "required"
    #: Seconds an API process reuses what it read about a key or a session; at most 1, so a
    #: revoked key or an ended session stops working on every API process within a second.
    auth_cache_seconds: float = Field(default=1.0, ge=0, le=1.0)
    #: How long a dashboard login lasts.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    #: The session cookie's ``Secure`` flag: ``auto`` sets it on requests that came over https
    #: (behind a TLS proxy, trust its X-Forwarded-Proto with ``forwarded_allow_ips``).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    #: Proxies whose X-Forwarded-For/-Proto ``pgjobs api`` trusts (uvicorn's forwarded_allow_ips).
    forwarded_allow_ips: str = "127.0.0.1"
    #: Origins (``https://app.example.com``) whose pages may call the JSON API from a browser
    #: (CORS, comma-separated); none by default: cross-site browser requests are refused.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    #: Host names the API answers to (comma-separated; empty: any). With auth off, only
    #: loopback names are served whatever this says (no DNS rebinding into an open API).
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    #: Jobs one key may create per second on one API process, sustained and at once (a batch
    #: counts its jobs); 429 with Retry-After beyond. 0: no limit. A key may have its own rate.
    create_rate_per_second: float = Field(default=1000.0, ge=0)
    create_burst: int = Field(default=10_000, ge=1)
    #: Live event streams (SSE) one key or user may hold open on one API process.
    events_max_streams_per_key: int = Field(default=20, ge=1)
    #: Dashboard login attempts per minute, per client address and per user name.
    login_attempts_per_minute: int = Field(default=10, ge=1)
    #: Deepest nesting of a JSON request body (job arguments included); deeper is a 422.
    max_json_depth: int = Field(default=32, ge=2, le=200)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator(
        "extra_queues",
        "ready_queues",
        "task_modules",
        "cors_origins",
        "allowed_hosts",
        "callback_allowed_hosts",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("task_modules")
    @classmethod
    def _import_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not IMPORT_PATH.match(name):
                raise ValueError(f"{name!r} is not a module import path (like myapp.tasks)")
        return tuple(dict.fromkeys(value))  # in order, each once

    @field_validator("rescue_cron", "retention_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid cron expression")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return tuple(origin.lower() for origin in value)

    @model_validator(mode="after")
    def _callbacks_need_a_secret(self) -> Settings:
        if self.callback_allowed_hosts and self.callback_secret is None:
            raise ValueError(
                "PGJOBS_CALLBACK_ALLOWED_HOSTS is set but PGJOBS_CALLBACK_SECRET is not: "
                "callbacks are signed with it"
            )
        if self.callback_secret is not None and len(self.callback_secret) < 16:
            raise ValueError("PGJOBS_CALLBACK_SECRET must be at least 16 characters")
        return self

    @model_validator(mode="after")
    def _production_needs_auth(self) -> Settings:
        # Checked on the model, not only in load_settings: an app built from Settings(...)
        # directly must not serve an open API in production either.
        if self.environment == "production" and self.auth == "off":
            raise ValueError(
                "PGJOBS_ENVIRONMENT=production refuses PGJOBS_AUTH=off: "
                "create API keys (pgjobs keys create) and leave authentication on"
            )
        return self

    def require_database_url(self) -> str:
        """The database URL, or a clear error when none is configured."""
        if self.database_url is None:
            raise SettingsError("DATABASE_URL is not set (it is required outside `pgjobs dev`)")
        return self.database_url


def environment_variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location (``PGJOBS_API_PORT``)."""
    if not loc:
        return "settings"
    field = str(loc[0])
    if field == "database_url":
        return "DATABASE_URL"
    if field in Settings.model_fields:
        return f"PGJOBS_{field.upper()}"
    return field


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one clear message."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(
            f"{environment_variable(item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise SettingsError(f"invalid pgjobs settings: {problems}") from None
    if settings.environment == "production" and settings.database_url is None:
        raise SettingsError("PGJOBS_ENVIRONMENT=production requires DATABASE_URL")
    if settings.pool_min_size > settings.pool_max_size:
        raise SettingsError("PGJOBS_POOL_MIN_SIZE must not exceed PGJOBS_POOL_MAX_SIZE")
    if settings.worker_heartbeat_seconds * 2 > settings.worker_stalled_after_seconds:
        # a worker must be able to miss a heartbeat without being taken for dead
        raise SettingsError(
            "PGJOBS_WORKER_HEARTBEAT_SECONDS must be at most half of "
            "PGJOBS_WORKER_STALLED_AFTER_SECONDS"
        )
    return settings
