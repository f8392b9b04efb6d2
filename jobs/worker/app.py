"""The queue engine: the procrastinate App with pgjobs' tasks and middleware.

``jobs/__init__.py`` re-exports :data:`app`, so the procrastinate CLI's
``--app=jobs.app`` (procrastinate resolves it as attribute ``app`` of package
``jobs``) runs a worker with nothing else to write.

``app`` is built at import time but connects to nothing: its connector builds
its pool lazily, from the environment (``DATABASE_URL``, ``PGJOBS_*``), when
the procrastinate CLI opens it. The API builds its own app with
:func:`build_app` and opens it on the pool it shares with request handlers.
"""

from __future__ import annotations

from typing import Any

import procrastinate
from procrastinate.psycopg_connector import PsycopgConnector

from db.pool import create_pool
from db.types import Pool
from jobs.examples import workloads as examples  # noqa: F401  (registers the demo tasks)
from jobs.maintenance import tasks as maintenance  # noqa: F401  (registers maintenance tasks)
from jobs.settings import Settings, load_settings
from jobs.tasks.registry import TaskRegistry, registry
from jobs.worker import runner, shutdown
from jobs.worker.middleware import EnforceTimeLimits, record_outcome
from jobs.worker.options import LIFECYCLE_MIDDLEWARE, configure_worker


def build_app(
    settings: Settings | None = None, *, tasks: TaskRegistry = registry
) -> procrastinate.App:
    """A procrastinate App with pgjobs' tasks and worker middleware installed.

    With ``settings`` the pool (when procrastinate creates one) uses them;
    without, they are read from the environment when the app is opened.
    """

    def pool_factory(**procrastinate_kwargs: Any) -> Pool:
        resolved = settings if settings is not None else load_settings()
        # The procrastinate CLI opens jobs.app after importing it: only now are the
        # environment's settings known to shape its worker (heartbeat, grace, schedules).
        configure_worker(app, resolved)
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

    app = procrastinate.App(
        connector=PsycopgConnector(pool_factory=pool_factory),
        worker_defaults={
            "worker_middleware": [
                record_outcome,
                EnforceTimeLimits(tasks, max_abandoned_threads=max_abandoned_threads),
                *LIFECYCLE_MIDDLEWARE,
            ]
        },
    )
    runner.install(app, tasks)
    shutdown.install(app)  # a job aborted by a worker's shutdown is retried, whatever its policy
    if settings is not None:
        configure_worker(app, settings)
    return app


#: The app the procrastinate CLI loads (``--app=jobs.app``, via the package's re-export).
app = build_app()
