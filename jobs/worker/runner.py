"""Tasks as the worker runs them: installed on a procrastinate App, arguments re-validated.

Each declared task (:mod:`jobs.tasks.registry`) becomes a procrastinate task
whose function rebuilds the arguments' model from the stored JSON, calls the
task with its context, and turns the return value into JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import procrastinate
from procrastinate.job_context import JobContext
from pydantic import BaseModel, TypeAdapter, ValidationError

from jobs.errors import InvalidArguments
from jobs.tasks.context import SyncTaskContext, TaskContext
from jobs.tasks.registry import TaskRegistry, TaskSpec
from jobs.worker.clock import SoftInterruptible, attempt_clock
from jobs.worker.threads import run_in_thread

_to_json: TypeAdapter[Any] = TypeAdapter(Any)


def procrastinate_function(spec: TaskSpec) -> Callable[..., Any]:
    """The function procrastinate runs: rebuild the model, call the task, return JSON.

    Both kinds are coroutines for procrastinate: an async task's coroutine is
    awaited so its soft time limit can be raised inside it; a sync task runs
    in a daemon thread of its own (:mod:`jobs.worker.threads`).
    """
    if spec.is_async:

        async def run_async(context: JobContext, **kwargs: Any) -> Any:
            args = _arguments(spec, kwargs)
            running = spec.func(TaskContext(context), args)
            clock = attempt_clock(context)
            if clock is not None and clock.limits.soft is not None:
                running = SoftInterruptible(running, clock)
            result = await running
            return _to_json.dump_python(result, mode="json")

        function: Callable[..., Any] = run_async
    else:

        async def run_sync(context: JobContext, **kwargs: Any) -> Any:
            args = _arguments(spec, kwargs)
            assert context.job.id is not None
            result = await run_in_thread(
                functools.partial(spec.func, SyncTaskContext(context), args),
                job_id=context.job.id,
                clock=attempt_clock(context),
            )
            return _to_json.dump_python(result, mode="json")

        function = run_sync
    function.__name__ = spec.func.__name__
    function.__qualname__ = spec.func.__qualname__
    function.__module__ = spec.func.__module__
    function.__doc__ = spec.func.__doc__
    return function


def _arguments(spec: TaskSpec, kwargs: dict[str, Any]) -> BaseModel:
    """The stored arguments as the task's model, or :class:`~jobs.errors.InvalidArguments`.

    Jobs created from SQL or for a task the creator did not import were checked
    against a published schema at most, perhaps another version's: this model
    decides. Invalid arguments fail the attempt with pydantic's errors and are
    never retried (``jobs.tasks.retry.ShutdownRetry``): the same input fails the same way.
    """
    try:
        return spec.args_model.model_validate(spec.task_arguments(kwargs))
    except ValidationError as error:
        details = [dict(item) for item in error.errors(include_url=False, include_context=False)]
        raise InvalidArguments(spec.name, details) from None


def install(app: procrastinate.App, tasks: TaskRegistry) -> None:
    """Register every task on a procrastinate app (the worker side)."""
    for spec in tasks:
        task = app.task(
            name=spec.name,
            queue=spec.queue,
            priority=spec.priority,
            pass_context=True,
            # the policy is procrastinate's retry strategy: plain CLI workers apply it
            retry=spec.retry or False,
        )(procrastinate_function(spec))
        if spec.cron is not None:
            # procrastinate defers periodic jobs from every worker; its
            # procrastinate_periodic_defers unique key makes exactly one win per tick.
            app.periodic(cron=spec.cron, periodic_id=spec.periodic_id)(task)
