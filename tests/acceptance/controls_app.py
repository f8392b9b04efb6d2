"""A worker app of test-only tasks: ``procrastinate --app=tests.acceptance.controls_app.app``.

It is built like ``jobs.app`` (same middleware, settings from the environment)
but with its own registry, so the execution-control tests can run schedules and
stuck tasks that no real deployment should have.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel

from jobs.tasks.context import SyncTaskContext, TaskContext
from jobs.tasks.registry import TaskRegistry
from jobs.worker.app import build_app

controls = TaskRegistry()


class NoArgs(BaseModel):
    pass


@controls.task(name="controls.every_second", args=NoArgs, queue="ticks", cron="* * * * * *")
async def every_second(ctx: TaskContext, args: NoArgs) -> int:
    """A per-second schedule: proves one job per tick however many workers run."""
    return int(str(ctx.procrastinate.job.task_kwargs["timestamp"]))


class Stuck(BaseModel):
    seconds: float


@controls.task(name="controls.stuck", args=Stuck, queue="stuck", time_limit=0.5)
def stuck(ctx: SyncTaskContext, args: Stuck) -> None:
    """Blocks its thread and ignores every stop request, like a hung network call."""
    threading.Event().wait(args.seconds)


app = build_app(tasks=controls)
