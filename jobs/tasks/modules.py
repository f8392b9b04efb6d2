"""Task modules: the import paths a process loads to know its tasks.

A team's tasks live in its own modules (``myapp.tasks``), declared with
``from jobs import task``; importing a module registers its tasks in the
process' registry. Workers, the API and ``pgjobs dev`` import the modules named
in ``PGJOBS_TASK_MODULES`` (or ``--tasks``) at start-up, before anything runs,
so a module that fails to import, or declares a bad task (an invalid cron, a
name used twice), stops the process there with the module's name and its error
instead of surfacing later as jobs nobody can run.

pgjobs' own maintenance tasks are always loaded by the worker and the API; the
demo tasks (:data:`DEMO_MODULE`) are a task module like any other.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

from jobs.errors import JobsError
from jobs.tasks.registry import TaskRegistry, registry

logger = logging.getLogger(__name__)

#: The demo workloads: ``pgjobs dev`` loads them when no task module is given.
DEMO_MODULE = "jobs.examples"
#: pgjobs' own periodic tasks (rescue, retention): every worker and API loads them.
MAINTENANCE_MODULE = "jobs.maintenance.tasks"


class TaskModuleError(JobsError):
    """A task module could not be imported, or one of its task declarations is invalid."""

    def __init__(self, module: str, error: BaseException) -> None:
        self.module = module
        self.error = error
        super().__init__(
            f"task module {module!r} could not be loaded: {type(error).__name__}: {error}"
        )


def load_task_modules(modules: Iterable[str], *, tasks: TaskRegistry = registry) -> None:
    """Import each module (registering its tasks); raise :class:`TaskModuleError` on the first
    that fails. Modules already imported are not imported again."""
    for module in modules:
        before = len(tasks)
        try:
            importlib.import_module(module)
        except Exception as error:
            raise TaskModuleError(module, error) from error
        if len(tasks) == before and not tasks.declared_in(module):
            logger.warning("task module %r declares no task (is it the right module?)", module)
