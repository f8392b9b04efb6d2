"""The task registry: each task declares a pydantic model for its arguments.

A task is written as ``async def f(ctx: TaskContext, args: Model) -> result``
(or a plain ``def`` taking a :class:`SyncTaskContext`). The registry validates
arguments when a job is created, publishes their JSON Schema (``GET /tasks``),
and hands every task to the worker (:mod:`jobs.worker.runner` installs each on a
procrastinate ``App`` with a wrapper that re-validates the stored arguments).
Each task also declares its execution controls: default queue and priority,
retry policy, time limits, cron schedule; all are checked at declaration, so a
bad one stops the process at start-up.

The registry is declarative (decorators record specs, nothing connects), so
the worker can install the same tasks on several independent apps.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter
from pydantic import BaseModel, ValidationError

from jobs.errors import InvalidArguments, InvalidJobOptions, UnknownTask
from jobs.tasks.callback_urls import check_callback_shape
from jobs.tasks.retry import RetryPolicy
from jobs.tasks.time_limits import TimeLimits, check_time_limits

#: Queue names end up in NOTIFY channel names (``procrastinate_queue_v1#<queue>``),
#: which Postgres truncates at 63 bytes; 40 characters keeps them whole.
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")
PRIORITY_MIN = -1000
PRIORITY_MAX = 1000
DEFAULT_QUEUE = "default"


def check_queue(queue: str, field: str = "queue") -> str:
    if not QUEUE_NAME.match(queue):
        raise InvalidJobOptions(
            field, "must be 1-40 characters of letters, digits and _.:- (starting alphanumeric)"
        )
    return queue


def check_priority(priority: int, field: str = "priority") -> int:
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidJobOptions(field, f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}")
    return priority


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """Everything pgjobs knows about one task."""

    name: str
    func: Callable[..., Any]
    args_model: type[BaseModel]
    queue: str
    priority: int
    description: str
    #: Cron expression (5 fields, or 6 with seconds) of a periodic task; one job per tick
    #: however many workers run.
    cron: str | None = None
    #: Installed as procrastinate's retry strategy; None: a failure is final.
    retry: RetryPolicy | None = None
    #: Default soft/hard time limits of each attempt (a job may override them).
    time_limits: TimeLimits = field(default_factory=TimeLimits)
    #: Where its jobs' outcomes are POSTed when a job gives no callback_url (docs/callbacks.md).
    callback_url: str | None = None

    @property
    def module(self) -> str:
        """The module that declares the task."""
        return str(self.func.__module__)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    @property
    def periodic_id(self) -> str:
        """procrastinate's id of the task's schedule (its deduplication key with the tick)."""
        return self.name

    def validate(self, args: Any) -> dict[str, Any]:
        """Validate raw arguments; returns them as JSON-ready data (what is stored in the job)."""
        try:
            model = self.args_model.model_validate(args)
        except ValidationError as error:
            details = [
                dict(item) for item in error.errors(include_url=False, include_context=False)
            ]
            raise InvalidArguments(self.name, details) from None
        return model.model_dump(mode="json")

    def json_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()

    def task_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The stored job arguments minus what procrastinate adds itself.

        procrastinate passes periodic jobs their tick as ``timestamp``; it is
        not part of the task's model (``ctx.procrastinate.job.task_kwargs`` has it).
        """
        if self.cron is not None:
            return {key: value for key, value in kwargs.items() if key != "timestamp"}
        return kwargs


class TaskRegistry:
    """Tasks by name. ``registry.task(...)`` is the decorator task modules use."""

    def __init__(self) -> None:
        self._specs: dict[str, TaskSpec] = {}

    def task(
        self,
        *,
        name: str,
        args: type[BaseModel],
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        cron: str | None = None,
        retry: RetryPolicy | None = None,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        callback_url: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a task; every option is checked here, so a bad one fails at import.

        ``retry``: its :class:`~jobs.tasks.retry.RetryPolicy` (default: never retried).
        ``time_limit`` / ``soft_time_limit``: seconds per attempt (see
        :mod:`jobs.tasks.time_limits`). ``cron``: run it periodically.
        ``callback_url``: the default webhook of its jobs (its host is checked against
        the allow-list when a job is created through the API, and at every delivery).
        """
        check_queue(queue)
        check_priority(priority)
        if cron is not None and not croniter.is_valid(cron):
            raise InvalidJobOptions("cron", f"{cron!r} is not a valid cron expression")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidJobOptions("retry", "must be a jobs.tasks.retry.RetryPolicy")
        limits = check_time_limits(time_limit, soft_time_limit)
        if callback_url is not None:
            check_callback_shape(callback_url)

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._specs:
                raise ValueError(f"task {name!r} is registered twice")
            self._specs[name] = TaskSpec(
                name=name,
                func=func,
                args_model=args,
                queue=queue,
                priority=priority,
                description=inspect.cleandoc(func.__doc__ or "").split("\n\n")[0],
                cron=cron,
                retry=retry,
                time_limits=limits,
                callback_url=callback_url,
            )
            return func

        return register

    def get(self, name: str) -> TaskSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTask(name, list(self._specs)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(sorted(self._specs.values(), key=lambda spec: spec.name))

    def __len__(self) -> int:
        return len(self._specs)

    def declared_in(self, module: str) -> list[str]:
        """Names of the tasks whose function is defined in ``module`` or a module below it."""
        return [
            spec.name
            for spec in self._specs.values()
            if spec.module == module or spec.module.startswith(module + ".")
        ]

    def queues(self) -> set[str]:
        """The default queues of the registered tasks."""
        return {spec.queue for spec in self._specs.values()}


#: The registry of pgjobs' tasks; task modules decorate with ``registry.task``.
registry = TaskRegistry()
#: The decorator task modules use: ``@task(name="images.resize", args=Resize)``.
task = registry.task
