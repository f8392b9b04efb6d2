from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest
from procrastinate.jobs import Job
from pydantic import BaseModel

from jobs.errors import InvalidJobOptions
from jobs.tasks.registry import TaskRegistry, registry
from jobs.tasks.retry import RetryPolicy


class Transient(Exception):
    pass


class Permanent(Transient):
    """A subclass of a retried type that must still never be retried."""


def _job(attempts: int) -> Job:
    return Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts)


def test_exponential_backoff_doubles_then_caps() -> None:
    policy = RetryPolicy(max_attempts=10, initial_delay=1, max_delay=10, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_exponential_backoff_survives_huge_attempt_numbers() -> None:
    policy = RetryPolicy(max_attempts=10**6, initial_delay=0.5, max_delay=60, jitter=0)
    assert policy.delay(10**5) == 60


def test_linear_and_constant_backoff() -> None:
    linear = RetryPolicy(backoff="linear", initial_delay=3, max_delay=10, jitter=0)
    assert [linear.delay(n) for n in (1, 2, 3, 4)] == [3, 6, 9, 10]
    constant = RetryPolicy(backoff="constant", initial_delay=5, jitter=0)
    assert [constant.delay(n) for n in (1, 2, 9)] == [5, 5, 5]


def test_jitter_only_shortens_the_capped_delay() -> None:
    def lowest() -> float:
        return 0.0

    def highest() -> float:
        return 0.999

    policy = RetryPolicy(initial_delay=8, max_delay=8, jitter=0.5, jitter_source=highest)
    assert policy.delay(3) == pytest.approx(8 * (1 - 0.5 * 0.999))
    same_without_draw = RetryPolicy(initial_delay=8, max_delay=8, jitter=0.5, jitter_source=lowest)
    assert same_without_draw.delay(3) == 8
    spread = {RetryPolicy(initial_delay=8, max_delay=8, jitter=1).delay(1) for _ in range(50)}
    assert len(spread) > 1
    assert all(0 <= delay <= 8 for delay in spread)


def test_max_attempts_counts_the_first_run() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(ValueError(), failed_attempt=1)
    assert policy.should_retry(ValueError(), failed_attempt=2)
    assert not policy.should_retry(ValueError(), failed_attempt=3)
    assert not RetryPolicy(max_attempts=1).should_retry(ValueError(), failed_attempt=1)


def test_only_chosen_exceptions_are_retried_and_never_retry_wins() -> None:
    policy = RetryPolicy(max_attempts=5, retry_on=(Transient,), never_retry=(Permanent,))
    assert policy.should_retry(Transient(), 1)
    assert not policy.should_retry(ValueError(), 1)
    assert not policy.should_retry(Permanent(), 1)


def test_cancellation_is_never_retried() -> None:
    assert not RetryPolicy(max_attempts=5).should_retry(asyncio.CancelledError(), 1)


def test_procrastinate_decision_schedules_the_next_run() -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay=4, jitter=0)
    before = datetime.datetime.now(datetime.UTC)
    decision = policy.get_retry_decision(exception=ValueError(), job=_job(attempts=1))
    after = datetime.datetime.now(datetime.UTC)
    assert decision is not None
    assert decision.retry_at is not None
    # attempt 2 failed: exponential gives 4 * 2 = 8 s from the decision (however slow the machine)
    delay = datetime.timedelta(seconds=8)
    assert before + delay <= decision.retry_at <= after + delay
    assert policy.get_retry_decision(exception=ValueError(), job=_job(attempts=2)) is None
    retry = policy.get_retry_exception(exception=ValueError(), job=_job(attempts=0))
    assert retry is not None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"initial_delay": -1}, "retry.initial_delay"),
        ({"max_delay": -5}, "retry.max_delay"),
        ({"initial_delay": 10, "max_delay": 5}, "retry.max_delay"),
        ({"multiplier": 0.5}, "retry.multiplier"),
        ({"jitter": 1.5}, "retry.jitter"),
        ({"backoff": "fibonacci"}, "retry.backoff"),
        ({"retry_on": ()}, "retry.retry_on"),
        ({"retry_on": (KeyboardInterrupt,)}, "retry.retry_on"),
        ({"never_retry": ("ValueError",)}, "retry.never_retry"),
    ],
)
def test_nonsense_policies_fail_when_declared(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidJobOptions) as error:
        RetryPolicy(**options)
    assert error.value.field == field


def test_a_task_declares_its_policy() -> None:
    class Args(BaseModel):
        pass

    local = TaskRegistry()
    policy = RetryPolicy(max_attempts=2)

    @local.task(name="t", args=Args, retry=policy)
    async def task(ctx: object, args: Args) -> None: ...

    assert local.get("t").retry is policy
    with pytest.raises(InvalidJobOptions, match="retry"):
        local.task(name="u", args=Args, retry=3)  # type: ignore[arg-type]


def test_tools_run_retries_transient_errors_only() -> None:
    from jobs.examples.workloads import ToolRejectedError, TransientToolError

    policy = registry.get("tools.run").retry
    assert policy is not None
    assert policy.should_retry(TransientToolError(), 1)
    assert not policy.should_retry(ToolRejectedError(), 1)
    assert not policy.should_retry(TransientToolError(), policy.max_attempts)
