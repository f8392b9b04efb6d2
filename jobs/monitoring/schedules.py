"""Periodic schedules: the cron tasks, their next ticks, and what their last tick produced.

A task declared with ``cron=`` is installed with procrastinate's ``app.periodic``.
Every worker runs procrastinate's periodic deferrer, and for each tick each of
them tries to insert ``(task, periodic_id, tick)`` into
``procrastinate_periodic_defers``; its unique key lets exactly one insert win and
create the job. So schedules need no beat process, and any number of workers
still gives one job per tick. Cron expressions are read by croniter in UTC, as
procrastinate reads them; a 6th field, last, counts seconds (``"* * * * * */10"``:
every 10 seconds).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import procrastinate
from croniter import croniter

from db import schedule_store
from db.schedule_store import PeriodicDeferRow
from db.types import Connection, JobStatus
from jobs.errors import UnknownTask
from jobs.tasks.registry import TaskRegistry


@dataclass(frozen=True, slots=True)
class LastRun:
    """The latest tick a worker deferred, and its job (None once the job was deleted)."""

    tick: datetime.datetime
    job_id: int | None
    status: JobStatus | None


@dataclass(frozen=True, slots=True)
class Schedule:
    task: str
    periodic_id: str
    cron: str
    queue: str
    priority: int
    description: str
    next_runs: list[datetime.datetime]
    last_run: LastRun | None


@dataclass(frozen=True, slots=True)
class PublishedSchedule:
    """A cron task this process does not import, as its workers published it (task catalog)."""

    task: str
    cron: str
    queue: str
    priority: int
    description: str


def next_ticks(cron: str, after: datetime.datetime, count: int) -> list[datetime.datetime]:
    """The ``count`` ticks of ``cron`` strictly after ``after``, as procrastinate computes them."""
    iterator = croniter(cron, after.timestamp())
    return [
        datetime.datetime.fromtimestamp(iterator.get_next(float), datetime.UTC)
        for _ in range(count)
    ]


async def list_schedules(
    conn: Connection,
    app: procrastinate.App,
    tasks: TaskRegistry,
    *,
    now: datetime.datetime,
    next_runs: int,
    published: Sequence[PublishedSchedule] = (),
) -> list[Schedule]:
    """The schedules ``app``'s workers run, by task name, with their next ``next_runs`` ticks.

    Read from the app's periodic registry rather than the task declarations: it
    is what workers built with the same settings actually defer (settings may
    move or disable a schedule). ``published``: cron tasks of the task catalog
    that this process does not import (its workers defer them under the task's name).
    """
    periodic = sorted(
        app.periodic_registry.periodic_tasks.values(),
        key=lambda item: (item.task.name, item.periodic_id),
    )
    imported = {item.task.name for item in periodic}
    others = [schedule for schedule in published if schedule.task not in imported]
    latest = {
        (row.task_name, row.periodic_id): row
        for row in await schedule_store.periodic_defer_list_latest(
            conn, sorted(imported | {schedule.task for schedule in others})
        )
    }
    schedules = []
    for item in periodic:
        options = item.configure_kwargs
        priority = options.get("priority")
        last_run = _last_run(latest.get((item.task.name, item.periodic_id)))
        schedules.append(
            Schedule(
                task=item.task.name,
                periodic_id=item.periodic_id,
                cron=item.cron,
                queue=options.get("queue") or item.task.queue,
                priority=item.task.priority if priority is None else priority,
                description=_description(tasks, item.task.name),
                next_runs=next_ticks(item.cron, now, next_runs),
                last_run=last_run,
            )
        )
    for schedule in others:
        row = latest.get((schedule.task, schedule.task))
        schedules.append(
            Schedule(
                task=schedule.task,
                periodic_id=schedule.task,
                cron=schedule.cron,
                queue=schedule.queue,
                priority=schedule.priority,
                description=schedule.description,
                next_runs=next_ticks(schedule.cron, now, next_runs),
                last_run=_last_run(row),
            )
        )
    return sorted(schedules, key=lambda schedule: (schedule.task, schedule.periodic_id))


def _last_run(row: PeriodicDeferRow | None) -> LastRun | None:
    if row is None:
        return None
    return LastRun(
        tick=datetime.datetime.fromtimestamp(row.defer_timestamp, datetime.UTC),
        job_id=row.job_id,
        status=row.status,
    )


def _description(tasks: TaskRegistry, name: str) -> str:
    try:
        return tasks.get(name).description
    except UnknownTask:  # a schedule added on the app directly, outside the registry
        return ""
