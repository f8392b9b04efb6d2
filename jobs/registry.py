"""The task registry: each task declares a pydantic model for its arguments.

A task is written as ``async def f(ctx: TaskContext, args: Model) -> result``
(or a plain ``def`` taking a :class:`SyncTaskContext`). The registry validates
arguments when a job is created, publishes their JSON Schema (``GET /tasks``),
and installs every task on a procrastinate ``App`` with a wrapper that
re-validates the stored arguments and turns the return value into JSON.

The registry is declarative (decorators record specs, nothing connects), so
``build_app()`` can install the same tasks on several independent apps.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import procrastinate
from croniter import croniter
from procrastinate.job_context import JobContext
from pydantic import BaseModel, TypeAdapter, ValidationError

from jobs.context import SyncTaskContext, TaskContext
from jobs.errors import InvalidArguments, InvalidJobOptions, UnknownTask

#: Queue names end up in NOTIFY channel names (``procrastinate_queue_v1#<queue>``),
#: which Postgres truncates at 63 bytes; 40 characters keeps them whole.
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")
PRIORITY_MIN = -1000
PRIORITY_MAX = 1000
DEFAULT_QUEUE = "default"

_to_json: TypeAdapter[Any] = TypeAdapter(Any)


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

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

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

    def procrastinate_function(self) -> Callable[..., Any]:
        """The function procrastinate runs: rebuild the model, call the task, return JSON."""
        spec = self
        if self.is_async:

            async def run_async(context: JobContext, **kwargs: Any) -> Any:
                args = spec.args_model.model_validate(spec.task_arguments(kwargs))
                result = await spec.func(TaskContext(context), args)
                return _to_json.dump_python(result, mode="json")

            function: Callable[..., Any] = run_async
        else:

            def run_sync(context: JobContext, **kwargs: Any) -> Any:
                args = spec.args_model.model_validate(spec.task_arguments(kwargs))
                result = spec.func(SyncTaskContext(context), args)
                return _to_json.dump_python(result, mode="json")

            function = run_sync
        function.__name__ = self.func.__name__
        function.__qualname__ = self.func.__qualname__
        function.__module__ = self.func.__module__
        function.__doc__ = self.func.__doc__
        return function


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
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        check_queue(queue)
        check_priority(priority)
        if cron is not None and not croniter.is_valid(cron):
            raise InvalidJobOptions("cron", f"{cron!r} is not a valid cron expression")

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
            )
            return func

        return register

    def get(self, name: str) -> TaskSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTask(name, list(self._specs)) from None

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(sorted(self._specs.values(), key=lambda spec: spec.name))

    def __len__(self) -> int:
        return len(self._specs)

    def install(self, app: procrastinate.App) -> None:
        """Register every task on a procrastinate app (the worker side)."""
        for spec in self:
            task = app.task(
                name=spec.name,
                queue=spec.queue,
                priority=spec.priority,
                pass_context=True,
            )(spec.procrastinate_function())
            if spec.cron is not None:
                # procrastinate defers periodic jobs from every worker; its
                # procrastinate_periodic_defers unique key makes exactly one win per tick.
                app.periodic(cron=spec.cron, periodic_id=spec.name)(task)


#: The registry of pgjobs' tasks; task modules decorate with ``registry.task``.
registry = TaskRegistry()
