"""The queue engine: the procrastinate App with pgjobs' tasks and middleware.

``jobs/__init__.py`` re-exports :data:`app`, so the procrastinate CLI's
``--app=jobs.app`` (procrastinate resolves it as attribute ``app`` of package
``jobs``) runs a worker with nothing else to write.

``app`` is built on first access, not at import: then it imports the task
modules of ``PGJOBS_TASK_MODULES`` (plus pgjobs' maintenance tasks) and
installs their tasks, and connects to nothing; its connector builds its pool
from the environment (``DATABASE_URL``, ``PGJOBS_*``) when the procrastinate
CLI opens it. A bad setting or a task module that cannot be loaded stops the
CLI there with exit status 2 and the reason. The API builds its own app with
:func:`build_app` and opens it on the pool it shares with request handlers.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import procrastinate
from procrastinate.psycopg_connector import PsycopgConnector

from db.pool import create_pool
from db.types import Pool
from jobs.callbacks import delivery  # noqa: F401  (registers the webhook delivery task)
from jobs.maintenance import tasks as maintenance  # noqa: F401  (registers maintenance tasks)
from jobs.settings import Settings, SettingsError, load_settings
from jobs.tasks.modules import TaskModuleError, load_task_modules
from jobs.tasks.registry import TaskRegistry, registry
from jobs.worker import runner, shutdown
from jobs.worker.job_manager import JobManager
from jobs.worker.middleware import EnforceTimeLimits, record_outcome
from jobs.worker.options import LIFECYCLE_MIDDLEWARE, configure_worker
from jobs.worker.process import PgjobsApp
from jobs.worker.recycling import Claims, Recycler


def build_app(
    settings: Settings | None = None, *, tasks: TaskRegistry = registry
) -> procrastinate.App:
    """A procrastinate App with pgjobs' tasks and worker middleware installed.

    The task modules of the settings are imported first (raising
    :class:`~jobs.tasks.modules.TaskModuleError`). With ``settings`` the pool
    (when procrastinate creates one) uses them; without, they are read from the
    environment: the task modules now, the rest when the app is opened.
    """
    load_task_modules((settings or load_settings()).task_modules)

    claims = Claims()
    recycler = Recycler(claims)

    def configure(resolved: Settings) -> None:
        configure_worker(app, resolved)
        recycler.configure(resolved)
        job_manager.configure(resolved)

    def pool_factory(**procrastinate_kwargs: Any) -> Pool:
        resolved = settings if settings is not None else load_settings()
        # The procrastinate CLI opens jobs.app after importing it: only now are the
        # environment's settings known to shape its worker (heartbeat, grace, schedules,
        # recycling, its name).
        configure(resolved)
        procrastinate_kwargs.pop("open", None)
        return create_pool(
            resolved.require_database_url(),
            min_size=resolved.pool_min_size,
            max_size=resolved.pool_max_size,
            application_name="pgjobs-worker",
            **procrastinate_kwargs,
        )

    def max_abandoned_threads() -> int:
        resolved = settings if settings is not None else load_settings()
        return resolved.worker_max_abandoned_threads

    app = PgjobsApp(
        tasks=tasks,
        connector=PsycopgConnector(pool_factory=pool_factory),
        worker_defaults={
            "worker_middleware": [
                recycler,  # outermost: counts every job, whatever the inner ones raise
                record_outcome,
                EnforceTimeLimits(tasks, max_abandoned_threads=max_abandoned_threads),
                *LIFECYCLE_MIDDLEWARE,
            ]
        },
    )
    job_manager = JobManager(app.connector, claims)  # type: ignore[arg-type]
    app.job_manager = job_manager
    runner.install(app, tasks)
    shutdown.install(app)  # a job aborted by a worker's shutdown is retried, whatever its policy
    if settings is not None:
        configure(settings)
    return app


@functools.cache
def _cli_app() -> procrastinate.App:
    try:
        return build_app()
    except (SettingsError, TaskModuleError) as error:
        # procrastinate's CLI would print a traceback and exit 1: name the problem, exit 2
        print(f"pgjobs: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def __getattr__(name: str) -> Any:
    """``app``: the app the procrastinate CLI loads (``--app=jobs.app``), built on first access."""
    if name == "app":
        return _cli_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
