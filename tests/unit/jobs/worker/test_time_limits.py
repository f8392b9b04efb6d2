from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
from pydantic import BaseModel

from jobs.control.enqueue import JobCreate, prepare
from jobs.errors import InvalidJobOptions
from jobs.tasks.registry import TaskRegistry
from jobs.tasks.time_limits import (
    SoftTimeLimitExceeded,
    TimeLimits,
    check_time_limits,
    job_time_limits,
)
from jobs.worker.clock import JobClock, SoftInterruptible


class Args(BaseModel):
    pass


@pytest.mark.parametrize(
    ("hard", "soft", "field"),
    [
        (0, None, "time_limit"),
        (-1, None, "time_limit"),
        (math.inf, None, "time_limit"),
        (10**9, None, "time_limit"),
        (None, 0, "soft_time_limit"),
        (5, 10, "soft_time_limit"),
    ],
)
def test_bad_limits_name_their_field(hard: float | None, soft: float | None, field: str) -> None:
    with pytest.raises(InvalidJobOptions) as error:
        check_time_limits(hard, soft)
    assert error.value.field == field


def test_a_job_override_must_agree_with_the_defaults_it_keeps() -> None:
    task = TimeLimits(hard=60, soft=50)
    assert job_time_limits(task, 120, None) == TimeLimits(hard=120, soft=50)
    assert job_time_limits(task, 10, 5) == TimeLimits(hard=10, soft=5)
    with pytest.raises(InvalidJobOptions) as short_hard:
        job_time_limits(task, 10, None)
    assert short_hard.value.field == "time_limit"
    with pytest.raises(InvalidJobOptions) as long_soft:
        job_time_limits(task, None, 90)
    assert long_soft.value.field == "soft_time_limit"


def test_enqueue_validates_a_jobs_limits_before_writing() -> None:
    request = JobCreate(task="llm.generate", args={"prompt": "p"}, time_limit=30)
    with pytest.raises(InvalidJobOptions) as error:
        prepare(request)  # llm.generate's own soft limit is 540 s
    assert error.value.field == "time_limit"
    new_job = prepare(
        JobCreate(task="llm.generate", args={"prompt": "p"}, time_limit=30, soft_time_limit=25)
    )
    assert (new_job.time_limit, new_job.soft_time_limit) == (30, 25)


def test_bad_limits_fail_when_a_task_is_declared() -> None:
    local = TaskRegistry()
    with pytest.raises(InvalidJobOptions, match="soft_time_limit"):
        local.task(name="t", args=Args, time_limit=5, soft_time_limit=6)
    with pytest.raises(InvalidJobOptions, match="time_limit"):
        local.task(name="t", args=Args, time_limit=-1)


async def _run_clocked(body: Any, limits: TimeLimits) -> tuple[asyncio.Task[Any], JobClock]:
    """Run ``body(clock)`` as the job's coroutine in its own task, the way the worker does."""
    clocks: list[JobClock] = []

    async def job() -> Any:
        task = asyncio.current_task()
        assert task is not None
        clock = JobClock(limits, task, interrupt_soft=True)
        clocks.append(clock)
        clock.start()
        try:
            return await SoftInterruptible(body(clock), clock)
        finally:
            clock.stop()

    task = asyncio.create_task(job())
    await asyncio.wait([task], timeout=60)  # a liveness bound: the limits are 0.05-0.1 s
    assert task.done()
    return task, clocks[0]


async def test_soft_limit_is_raised_inside_the_task_which_may_wrap_up() -> None:
    async def body(clock: JobClock) -> str:
        try:
            await asyncio.sleep(10)
        except SoftTimeLimitExceeded:
            assert clock.soft_limit_reached
            await asyncio.sleep(0.01)  # the task may still await while wrapping up
            return "partial"
        return "complete"

    task, _ = await _run_clocked(body, TimeLimits(soft=0.05, hard=5))
    assert task.result() == "partial"
    assert task.cancelling() == 0


async def test_unhandled_soft_limit_fails_the_task() -> None:
    async def body(clock: JobClock) -> None:
        await asyncio.sleep(10)

    task, _ = await _run_clocked(body, TimeLimits(soft=0.05))
    with pytest.raises(SoftTimeLimitExceeded, match=r"soft time limit of 0\.05 s"):
        task.result()


async def test_hard_limit_cancels_even_a_task_that_handles_the_soft_one() -> None:
    async def body(clock: JobClock) -> None:
        try:
            await asyncio.sleep(10)
        except SoftTimeLimitExceeded:
            await asyncio.sleep(10)  # ignores the warning

    task, clock = await _run_clocked(body, TimeLimits(soft=0.05, hard=0.1))
    assert task.cancelled()
    assert clock.hard_limit_reached


async def test_other_cancellations_pass_through_unchanged() -> None:
    async def body(clock: JobClock) -> None:
        await asyncio.sleep(10)

    limits = TimeLimits(soft=5)
    clocks: list[JobClock] = []

    async def job() -> None:
        task = asyncio.current_task()
        assert task is not None
        clocks.append(JobClock(limits, task, interrupt_soft=True))
        await SoftInterruptible(body(clocks[0]), clocks[0])

    task = asyncio.create_task(job())
    await asyncio.sleep(0.01)
    task.cancel()  # an abort: not the clock's
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not clocks[0].soft_limit_reached


async def test_time_left_counts_down_to_the_soft_then_the_hard_limit() -> None:
    task = asyncio.current_task()
    assert task is not None
    started = time.monotonic()
    clock = JobClock(TimeLimits(hard=10, soft=4), task, interrupt_soft=False)
    time_left = clock.time_left()
    elapsed = time.monotonic() - started
    assert time_left is not None
    assert 4 - elapsed <= time_left <= 4  # the soft limit first, less what this test took
    assert JobClock(TimeLimits(), task, interrupt_soft=False).time_left() is None


async def test_an_abort_arriving_with_the_soft_limit_wins() -> None:
    async def body(clock: JobClock) -> str:
        try:
            await asyncio.sleep(10)
        except SoftTimeLimitExceeded:
            return "partial"
        return "complete"

    clocks: list[JobClock] = []

    async def job() -> str:
        task = asyncio.current_task()
        assert task is not None
        clocks.append(JobClock(TimeLimits(soft=5), task, interrupt_soft=True))
        result: str = await SoftInterruptible(body(clocks[0]), clocks[0])
        return result

    task = asyncio.create_task(job())
    await asyncio.sleep(0.01)
    clocks[0]._on_soft_limit()  # the soft limit fires ...
    task.cancel()  # ... and an abort arrives before the task runs again
    with pytest.raises(asyncio.CancelledError):
        await task
