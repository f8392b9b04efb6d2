"""The settings that shape a worker: heartbeat, shutdown grace, maintenance schedules.

They reach procrastinate as ``App.worker_defaults`` (which the CLI's own flags,
e.g. ``--shutdown-graceful-timeout``, still override) and as the periodic
schedules of the maintenance tasks. :func:`configure_worker` applies them once
the settings are known: when the app is built with explicit settings, or, for
``jobs.app`` loaded by the procrastinate CLI, when the CLI opens it (settings
are read from the environment then, never at import).
"""

from __future__ import annotations

import procrastinate
from procrastinate.app import WorkerOptions
from procrastinate.middleware import WorkerMiddleware

from jobs.callbacks import delivery as callbacks
from jobs.maintenance import tasks as maintenance
from jobs.settings import Settings
from jobs.tasks.context import SETTINGS_KEY
from jobs.worker import liveness, shutdown

#: Worker middleware of the worker lifecycle, innermost last (see each module).
LIFECYCLE_MIDDLEWARE: list[WorkerMiddleware] = [
    liveness.stop_when_status_unsaved,
    liveness.keep_alive,
    shutdown.requeue_on_shutdown,
]
#: procrastinate prunes workers stalled for ``stalled_worker_timeout`` when a worker
#: starts, without pgjobs' test for a recent Postgres restart: keep that far behind the
#: rescue's own pruning so it only ever removes rows dead for long.
STARTUP_PRUNE_FACTOR = 10


def worker_options(settings: Settings) -> WorkerOptions:
    """procrastinate worker options (``App.worker_defaults`` entries) from the settings."""
    return {
        "update_heartbeat_interval": settings.worker_heartbeat_seconds,
        "stalled_worker_timeout": STARTUP_PRUNE_FACTOR * settings.worker_stalled_after_seconds,
        "shutdown_graceful_timeout": settings.worker_shutdown_grace_seconds,
        "additional_context": {SETTINGS_KEY: settings},
    }


def configure_worker(app: procrastinate.App, settings: Settings) -> None:
    """Apply ``settings`` to ``app``'s worker defaults and maintenance schedules (idempotent)."""
    options = worker_options(settings)
    options["additional_context"] = {
        **app.worker_defaults.get("additional_context", {}),
        **options["additional_context"],
    }
    app.worker_defaults.update(options)
    maintenance.schedule(app, settings)
    callbacks.configure(app, settings)
