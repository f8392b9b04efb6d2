"""pgjobs for application code: declare tasks, enqueue jobs in your transaction.

Everything a task module or an application needs is importable from here::

    from jobs import RetryPolicy, TaskContext, enqueue, task

Importing this package builds no app, registers no task and connects to
nothing: names are resolved on first use. ``jobs.app`` is the procrastinate App
that ``procrastinate --app=jobs.app worker`` loads (procrastinate looks up the
attribute ``app`` of this package); it is built on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procrastinate import App

    from jobs.control.enqueue import enqueue
    from jobs.errors import JobsError
    from jobs.tasks.context import SyncTaskContext, TaskContext
    from jobs.tasks.registry import task
    from jobs.tasks.retry import RetryPolicy
    from jobs.tasks.time_limits import SoftTimeLimitExceeded, TimeLimitExceeded

    app: App

#: Public name -> the module that defines it (imported on first use).
_EXPORTS = {
    "app": "jobs.worker.app",
    "enqueue": "jobs.control.enqueue",
    "JobsError": "jobs.errors",
    "task": "jobs.tasks.registry",
    "RetryPolicy": "jobs.tasks.retry",
    "SoftTimeLimitExceeded": "jobs.tasks.time_limits",
    "TimeLimitExceeded": "jobs.tasks.time_limits",
    "SyncTaskContext": "jobs.tasks.context",
    "TaskContext": "jobs.tasks.context",
}

__all__ = [
    "JobsError",
    "RetryPolicy",
    "SoftTimeLimitExceeded",
    "SyncTaskContext",
    "TaskContext",
    "TimeLimitExceeded",
    "app",
    "enqueue",
    "task",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
