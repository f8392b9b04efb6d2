"""A worker app of test-only tasks for processes and recycling: a task that leaks on purpose.

Workers run it through ``python -m harness.heavy_worker`` (``pgjobs
worker`` itself, pointed at this app); the tests create jobs with
``enqueue(..., tasks=heavy)``.
"""

from __future__ import annotations

import asyncio
import os
import time

from pydantic import BaseModel, Field

from jobs.tasks.context import SyncTaskContext, TaskContext
from jobs.tasks.registry import TaskRegistry
from jobs.worker.app import build_app

heavy = TaskRegistry()
QUEUE = "heavy"

#: What heavy.leak keeps forever, like a library with a leak.
_leaked: list[bytes] = []


class Leak(BaseModel):
    megabytes: int = Field(ge=0, le=512)
    seconds: float = Field(default=0.0, ge=0, le=60)


@heavy.task(name="heavy.leak", args=Leak, queue=QUEUE)
async def leak(ctx: TaskContext, args: Leak) -> dict[str, int]:
    """Keep ``megabytes`` of written (so resident) memory forever, then sleep ``seconds``."""
    _leaked.append(b"\x01" * (args.megabytes * 2**20))
    await asyncio.sleep(args.seconds)
    return {"pid": os.getpid(), "leaked_mib": sum(len(chunk) for chunk in _leaked) // 2**20}


class Spin(BaseModel):
    seconds: float = Field(ge=0, le=60)


@heavy.task(name="heavy.spin", args=Spin, queue=QUEUE)
def spin(ctx: SyncTaskContext, args: Spin) -> dict[str, int]:
    """Burn CPU in pure Python for ``seconds`` (holds the GIL: one core per process at most)."""
    deadline = time.process_time() + args.seconds
    rounds = 0
    while time.process_time() < deadline:
        rounds += sum(range(1000)) % 7
    return {"pid": os.getpid(), "rounds": rounds}


app = build_app(tasks=heavy)
