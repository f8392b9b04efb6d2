"""A task module the API under test does not import: "bring your own tasks" in tests.

Its tasks live in their own registry, installed only on the workers a test
builds with ``build_app(settings, tasks=REGISTRY)``; an API built with
``create_app(settings, tasks_registry=TaskRegistry())`` knows them only from the
task catalog those workers publish.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from db import catalog_store
from jobs.tasks.catalog import published_task
from jobs.tasks.context import TaskContext
from jobs.tasks.registry import TaskRegistry
from jobs.tasks.retry import RetryPolicy

REGISTRY = TaskRegistry()


class Resize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1)
    width: int = Field(gt=0, le=10_000)


@REGISTRY.task(name="byot.resize", args=Resize, queue="byot-images", priority=5)
async def resize(ctx: TaskContext, args: Resize) -> dict[str, object]:
    """Resize an image (pretend)."""
    return {"url": args.url, "width": args.width}


@REGISTRY.task(
    name="byot.flaky",
    args=Resize,
    queue="byot-images",
    retry=RetryPolicy(max_attempts=3, initial_delay=0, jitter=0),
)
async def flaky(ctx: TaskContext, args: Resize) -> None:
    """Always fails (a retried task)."""
    raise RuntimeError("flaky")


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


@REGISTRY.task(name="byot.nightly", args=NoArgs, queue="byot-reports", cron="0 2 * * *")
async def nightly(ctx: TaskContext, args: NoArgs) -> None:
    """A nightly report."""


async def publish(conn: psycopg.AsyncConnection[Any], registry: TaskRegistry, host: str) -> None:
    """Publish ``registry``'s tasks as a worker running that code on ``host`` would."""
    await catalog_store.catalog_publish(
        conn,
        catalog_store.Publisher(
            process_id=uuid.uuid4(),
            process_kind="worker",
            host=host,
            pid=1,
            worker_queues=None,
            task_modules=["tests.byot"],
        ),
        [published_task(spec) for spec in registry],
        forget_after_seconds=3600,
    )
