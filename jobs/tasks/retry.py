"""Retry policies: whether, and how soon, a failed job runs again.

A policy is declared on the task (``registry.task(..., retry=RetryPolicy(...))``)
and *is* procrastinate's retry strategy for it (installed with
``app.task(retry=policy)``), so every ``procrastinate --app=jobs.app worker``
applies it with no pgjobs code in the loop: when an attempt raises,
procrastinate asks the policy; "retry" puts the job back to ``todo`` with
``attempts + 1`` and ``scheduled_at`` set to the next run time, "no" finishes
it ``failed``. Both are plain columns of ``procrastinate_jobs`` (and fields of
``GET /jobs/{id}``), and every attempt's error is kept in ``pgjobs_attempts``.

Policies are checked when declared, so nonsense (``max_attempts=0``, a
negative delay) stops the process at start-up instead of surfacing as a job
that silently never retries.
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import procrastinate
from procrastinate.exceptions import JobAborted, JobRetry
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from jobs.errors import InvalidArguments, InvalidJobOptions, ResultTooLarge, type_name

#: How the delay grows with each failed attempt ``n`` (1 for the first failure):
#: ``exponential``: initial_delay * multiplier ** (n - 1); ``linear``: initial_delay * n;
#: ``constant``: initial_delay.
Backoff = Literal["exponential", "linear", "constant"]

#: Upper bound of any delay (a day): beyond it a retry is a schedule, not a retry.
MAX_DELAY_BOUND = 24 * 3600.0


def _random_fraction() -> float:
    return random.random()  # noqa: S311 (jitter spreads retries; it is not a secret)


@dataclass(frozen=True)
class RetryPolicy(BaseRetryStrategy):
    """When a failed attempt is retried, and after how long.

    >>> RetryPolicy(max_attempts=5, retry_on=(TimeoutError,), never_retry=(PermissionError,))

    retries a ``TimeoutError`` up to 4 times (5 runs in all) after about 1, 2,
    4 and 8 seconds; any other exception, or a ``PermissionError`` even if it
    were a ``TimeoutError``, fails the job at once.
    """

    #: Runs in total, the first one included: 1 never retries, 3 retries twice.
    max_attempts: int = 3
    backoff: Backoff = "exponential"
    #: Seconds before the first retry (before jitter).
    initial_delay: float = 1.0
    #: Growth factor of ``exponential`` backoff.
    multiplier: float = 2.0
    #: Cap on any one delay, applied before jitter (so jitter never exceeds it).
    max_delay: float = 300.0
    #: Fraction of each delay drawn at random (0: none; 1: "full jitter", anywhere in
    #: 0..delay), so jobs failing together do not all retry at the same instant.
    jitter: float = 0.1
    #: Only these exception types (and their subclasses) are retried.
    retry_on: tuple[type[Exception], ...] = (Exception,)
    #: These are never retried, even when they match ``retry_on``.
    never_retry: tuple[type[BaseException], ...] = ()
    #: Source of the jitter's randomness, a float in [0, 1) (tests pin it).
    jitter_source: Callable[[], float] = field(default=_random_fraction, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise _invalid("max_attempts", "must be an integer >= 1 (1 means never retry)")
        if self.backoff not in ("exponential", "linear", "constant"):
            raise _invalid("backoff", "must be 'exponential', 'linear' or 'constant'")
        for name in ("initial_delay", "max_delay"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0 <= value <= MAX_DELAY_BOUND:
                raise _invalid(name, f"must be between 0 and {MAX_DELAY_BOUND:.0f} seconds")
        if self.max_delay < self.initial_delay:
            raise _invalid("max_delay", "must not be smaller than initial_delay")
        if not math.isfinite(self.multiplier) or self.multiplier < 1:
            raise _invalid("multiplier", "must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise _invalid("jitter", "must be between 0 and 1")
        if not self.retry_on or not all(_is_exception(kind, Exception) for kind in self.retry_on):
            raise _invalid("retry_on", "must be a non-empty tuple of Exception subclasses")
        if not all(_is_exception(kind, BaseException) for kind in self.never_retry):
            raise _invalid("never_retry", "must be a tuple of exception classes")

    def should_retry(self, error: BaseException, failed_attempt: int) -> bool:
        """Whether the attempt number ``failed_attempt`` (1-based) that raised ``error`` runs again.

        Cancellations (``asyncio.CancelledError``) are ``BaseException``, never in
        ``retry_on``: an aborted job stays aborted.
        """
        return (
            failed_attempt < self.max_attempts
            and isinstance(error, self.retry_on)
            and not isinstance(error, self.never_retry)
        )

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after the attempt number ``failed_attempt`` (1-based) failed."""
        capped = min(self._raw_delay(failed_attempt), self.max_delay)
        return capped * (1 - self.jitter * self.jitter_source())

    def _raw_delay(self, failed_attempt: int) -> float:
        if self.backoff == "constant":
            return self.initial_delay
        if self.backoff == "linear":
            return self.initial_delay * failed_attempt
        if self.initial_delay == 0 or self.multiplier == 1:
            return self.initial_delay
        # Compared in log space: multiplier ** attempts overflows a float long before
        # max_attempts is unreasonable, and past the cap the exact value is moot.
        steps = failed_attempt - 1
        if steps * math.log(self.multiplier) >= math.log(self.max_delay / self.initial_delay):
            return self.max_delay
        return self.initial_delay * self.multiplier**steps

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """procrastinate's hook: ``job.attempts`` counts the attempts finished before this one."""
        failed_attempt = job.attempts + 1
        if not self.should_retry(exception, failed_attempt):
            return None
        retry_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
            seconds=self.delay(failed_attempt)
        )
        return RetryDecision(retry_at=retry_at)

    def describe(self) -> dict[str, object]:
        """The policy as JSON (``GET /tasks``)."""
        return {
            "max_attempts": self.max_attempts,
            "backoff": self.backoff,
            "initial_delay": self.initial_delay,
            "multiplier": self.multiplier,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
            "retry_on": [type_name(kind) for kind in self.retry_on],
            "never_retry": [type_name(kind) for kind in self.never_retry],
        }


def _is_exception(kind: object, base: type[BaseException]) -> bool:
    return isinstance(kind, type) and issubclass(kind, base)


def _invalid(name: str, message: str) -> InvalidJobOptions:
    return InvalidJobOptions(f"retry.{name}", message)


class WorkerShutdown(JobAborted):
    """The worker running this attempt shut down before it finished; the job runs again."""


class ShutdownRetry(BaseRetryStrategy):
    """A task's retry strategy, plus "a shutdown is always retried, at once", and "invalid
    arguments and an oversized result never are" (the same input fails the same way).

    ``inner`` is the task's own strategy (None when it has none); everything
    but :class:`WorkerShutdown` and :class:`~jobs.errors.ResultTooLarge` is its decision.
    """

    def __init__(self, inner: BaseRetryStrategy | None) -> None:
        self.inner = inner

    def get_retry_exception(self, exception: BaseException, job: Job) -> JobRetry | None:
        if isinstance(exception, WorkerShutdown):
            return JobRetry(RetryDecision())
        if isinstance(exception, InvalidArguments | ResultTooLarge):  # it would fail the same way
            return None
        if self.inner is None:
            return None
        retry: JobRetry | None = self.inner.get_retry_exception(exception=exception, job=job)
        return retry


def task_retry_strategy(task: procrastinate.tasks.Task[Any, Any, Any]) -> BaseRetryStrategy | None:
    """The task's own retry strategy, seen through :class:`ShutdownRetry`."""
    strategy = task.retry_strategy
    if isinstance(strategy, ShutdownRetry):
        return strategy.inner
    return strategy
