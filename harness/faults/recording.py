"""A test-only task that records every execution, and the apps that know it.

``faults.record`` inserts one row per execution into ``fault_executions`` (a
table of the tests, independent of pgjobs' own bookkeeping) when it starts and
stamps it when it ends: which job, which attempt, which worker process, when.
That record is what the fault tests judge pgjobs by. Its writes ride out
database faults (retried on connection errors, idempotent by execution id), so
a fault shows up as what pgjobs did with the job, not as a lost record.

Workers run ``procrastinate --app=harness.faults.recording.app``; the API runs
``uvicorn --factory harness.faults.recording:create_api``. Only those processes
import this module: importing it registers the task in the global registry, which
the test process itself must not see. The table is created by the cluster
(``harness/faults/cluster.py``).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
import uuid
from typing import Any, LiteralString

import psycopg
from fastapi import FastAPI
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict, Field

from api.app import create_app
from harness.faults import QUEUE, TASK
from jobs.settings import load_settings
from jobs.tasks.context import TaskContext, job_pool
from jobs.tasks.registry import registry
from jobs.worker.app import build_app

#: How long a recording write keeps retrying through a database fault.
WRITE_DEADLINE_SECONDS = 60.0


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=60)


async def _write(ctx: TaskContext, sql: LiteralString, params: dict[str, Any]) -> None:
    deadline = time.monotonic() + WRITE_DEADLINE_SECONDS
    while True:
        try:
            async with job_pool(ctx.procrastinate).connection() as conn:
                await conn.execute(sql, params)
            return
        except (psycopg.OperationalError, PoolTimeout):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@registry.task(name=TASK, args=Record, queue=QUEUE)
async def record(ctx: TaskContext, args: Record) -> dict[str, object]:
    """Record this execution's start, work ``seconds``, record its end."""
    execution_id = uuid.uuid4()
    await _write(
        ctx,
        "INSERT INTO fault_executions (execution_id, job_id, attempt, pid, started_at) "
        "VALUES (%(execution)s, %(job)s, %(attempt)s, %(pid)s, %(at)s) "
        "ON CONFLICT (execution_id) DO NOTHING",
        {
            "execution": execution_id,
            "job": ctx.job_id,
            "attempt": ctx.attempt,
            "pid": os.getpid(),
            "at": _now(),
        },
    )
    await asyncio.sleep(args.seconds)
    await _write(
        ctx,
        "UPDATE fault_executions SET finished_at = %(at)s WHERE execution_id = %(execution)s",
        {"execution": execution_id, "at": _now()},
    )
    return {"pid": os.getpid()}


#: The app fault-test workers run: pgjobs' own app, plus ``faults.record``.
app = build_app()


def create_api() -> FastAPI:
    """The API of the fault tests: pgjobs' own, knowing ``faults.record``."""
    return create_app(load_settings())
