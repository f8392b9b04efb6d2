"""pgjobs' built-in maintenance tasks: stalled-job rescue and retention, on by default.

Both are ordinary periodic tasks of the registry (so ``GET /tasks`` and
``GET /schedules`` show them), deferred by every worker and deduplicated by
procrastinate (one job per tick however many workers run), on a queue of
their own, ``pgjobs.maintenance``, that every worker started without
``--queues`` listens to. Each schedule also carries a queueing lock: while a
run is still waiting in the queue, ticks add no second one.

Their schedules and limits come from the settings (``PGJOBS_RESCUE_*``,
``PGJOBS_RETENTION_*``), applied by :func:`schedule` when the worker's settings
are known; the crons declared here are the settings' defaults. A task finds the
settings of the worker running it in its context (:data:`SETTINGS_KEY`).
"""

from __future__ import annotations

import datetime
from typing import cast

import procrastinate
from procrastinate.periodic import PeriodicTask
from pydantic import BaseModel, ConfigDict

from db.types import JobStatus
from jobs.maintenance import rescue, retention
from jobs.settings import Settings, load_settings
from jobs.tasks.context import SETTINGS_KEY, TaskContext, job_pool
from jobs.tasks.registry import PRIORITY_MAX, registry

#: The queue of the maintenance tasks, and nothing else (retention relies on it).
MAINTENANCE_QUEUE = "pgjobs.maintenance"
RESCUE_TASK = "pgjobs.rescue_stalled_jobs"
RETENTION_TASK = "pgjobs.prune_finished_jobs"


class MaintenanceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


def rescue_policy(settings: Settings) -> rescue.RescuePolicy:
    return rescue.RescuePolicy(
        stalled_after=settings.worker_stalled_after_seconds,
        max_attempts=settings.rescue_max_attempts,
    )


def retention_policy(settings: Settings) -> retention.RetentionPolicy:
    days = datetime.timedelta(days=1)
    return retention.RetentionPolicy(
        ages={
            JobStatus.SUCCEEDED: settings.retention_succeeded_days * days,
            JobStatus.FAILED: settings.retention_failed_days * days,
            JobStatus.CANCELLED: settings.retention_cancelled_days * days,
            JobStatus.ABORTED: settings.retention_aborted_days * days,
        },
        maintenance_age=datetime.timedelta(hours=settings.retention_maintenance_hours),
        maintenance_queue=MAINTENANCE_QUEUE,
        batch_size=settings.retention_batch_size,
    )


def _settings(ctx: TaskContext) -> Settings:
    found = ctx.procrastinate.additional_context.get(SETTINGS_KEY)
    return cast(Settings, found) if found is not None else load_settings()


@registry.task(
    name=RESCUE_TASK,
    args=MaintenanceArgs,
    queue=MAINTENANCE_QUEUE,
    priority=PRIORITY_MAX,
    cron=Settings.model_fields["rescue_cron"].default,
)
async def rescue_stalled_jobs(ctx: TaskContext, args: MaintenanceArgs) -> dict[str, object]:
    """Retry (or finish) the running jobs of workers that stopped heartbeating; prune them."""
    async with job_pool(ctx.procrastinate).connection() as conn:
        report = await rescue.rescue_stalled_jobs(
            conn, ctx.procrastinate.app, rescue_policy(_settings(ctx))
        )
    return report.as_json()


@registry.task(
    name=RETENTION_TASK,
    args=MaintenanceArgs,
    queue=MAINTENANCE_QUEUE,
    cron=Settings.model_fields["retention_cron"].default,
)
async def prune_finished_jobs(ctx: TaskContext, args: MaintenanceArgs) -> dict[str, object]:
    """Delete finished jobs older than their status' retention age, in short batches."""
    async with job_pool(ctx.procrastinate).connection() as conn:
        report = await retention.prune_finished_jobs(
            conn, retention_policy(_settings(ctx)), should_stop=ctx.should_stop
        )
    return report.as_json()


def schedule(app: procrastinate.App, settings: Settings) -> None:
    """Apply the settings' crons to the maintenance tasks of ``app`` (or unschedule them)."""
    periodic = app.periodic_registry.periodic_tasks
    for name, enabled, cron in (
        (RESCUE_TASK, settings.rescue_enabled, settings.rescue_cron),
        (RETENTION_TASK, settings.retention_enabled, settings.retention_cron),
    ):
        for key in [key for key in periodic if key[0] == name]:
            del periodic[key]
        task = app.tasks.get(name)
        if enabled and task is not None:
            periodic[(name, name)] = PeriodicTask(
                task=task, cron=cron, periodic_id=name, configure_kwargs={"queueing_lock": name}
            )
