"""Time limits: soft (the task is told) then hard (the attempt is stopped and fails).

A task declares defaults (``registry.task(..., time_limit=60, soft_time_limit=50)``)
and a job may override either at creation (``POST /jobs`` ``time_limit`` /
``soft_time_limit``, ``enqueue(..., time_limit=...)``). Each attempt gets its own
:class:`JobClock`, started by the worker middleware:

* at the **soft** limit an async task gets :class:`SoftTimeLimitExceeded`
  raised at the ``await`` it is suspended on (it may catch it, clean up and
  return a partial result); a sync task sees ``ctx.should_stop()`` turn true
  and ``ctx.time_left()`` reach 0;
* at the **hard** limit the attempt is cancelled and fails with
  :class:`TimeLimitExceeded`, which the task's retry policy may retry. A sync
  task's thread cannot be killed: it is abandoned (see :mod:`jobs.sync_runner`).

The clock is driven by the worker's event loop (``call_later``), so limits cost
no thread and no polling.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from jobs.errors import InvalidJobOptions

if TYPE_CHECKING:
    from jobs.sync_runner import AbandonedThread

T = TypeVar("T")

#: Key of the running job's :class:`JobClock` in procrastinate's ``additional_context``.
CLOCK_KEY = "pgjobs.clock"
#: Longest accepted limit (a week): a larger number is almost surely milliseconds.
MAX_TIME_LIMIT = 7 * 24 * 3600.0


class SoftTimeLimitExceeded(Exception):
    """Raised into an async task at its soft time limit; it may catch it and wrap up."""


class TimeLimitExceeded(Exception):
    """The attempt ran past its hard time limit and was stopped."""


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """Seconds an attempt may run: ``soft`` warns the task, ``hard`` stops it (None: no limit)."""

    hard: float | None = None
    soft: float | None = None

    def __bool__(self) -> bool:
        return self.hard is not None or self.soft is not None

    def override(self, hard: float | None, soft: float | None) -> TimeLimits:
        """These limits with a job's own values (None keeps the task's)."""
        return TimeLimits(
            hard=hard if hard is not None else self.hard,
            soft=soft if soft is not None else self.soft,
        )


def check_time_limits(
    hard: float | None,
    soft: float | None,
    *,
    hard_field: str = "time_limit",
    soft_field: str = "soft_time_limit",
) -> TimeLimits:
    """Validate a pair of limits; errors name the field (declaration or request) at fault."""
    for name, value in ((hard_field, hard), (soft_field, soft)):
        if value is not None and not (math.isfinite(value) and 0 < value <= MAX_TIME_LIMIT):
            raise InvalidJobOptions(name, f"must be > 0 and at most {MAX_TIME_LIMIT:.0f} seconds")
    if hard is not None and soft is not None and soft > hard:
        raise InvalidJobOptions(
            soft_field, f"({soft:g} s) must not exceed the hard time limit ({hard:g} s)"
        )
    return TimeLimits(hard=hard, soft=soft)


def job_time_limits(
    task_limits: TimeLimits, time_limit: float | None, soft_time_limit: float | None
) -> TimeLimits:
    """A job's effective limits: its overrides over the task's defaults, checked together.

    An override that contradicts a default it does not replace (a 10 s
    ``time_limit`` on a task whose soft limit is 50 s) is refused rather than
    silently dropping the soft limit.
    """
    check_time_limits(time_limit, soft_time_limit)
    effective = task_limits.override(time_limit, soft_time_limit)
    hard, soft = effective.hard, effective.soft
    if hard is not None and soft is not None and soft > hard:
        if time_limit is not None and soft_time_limit is None:
            raise InvalidJobOptions(
                "time_limit",
                f"({hard:g} s) is shorter than the task's soft time limit "
                f"({soft:g} s): give a soft_time_limit too",
            )
        raise InvalidJobOptions(
            "soft_time_limit",
            f"({soft:g} s) must not exceed the time limit ({hard:g} s)",
        )
    return effective


class JobClock:
    """The limits of one running attempt: deadlines, what has fired, and the timers firing it.

    Flags are written on the event loop and read from a sync task's thread;
    each is a single bool flipped once, which needs no lock.
    """

    def __init__(self, limits: TimeLimits, task: asyncio.Task[Any], *, interrupt_soft: bool):
        self.limits = limits
        self._task = task
        #: Async tasks are interrupted at the soft limit; sync tasks only see the flag.
        self._interrupt_soft = interrupt_soft
        self._started = time.monotonic()
        self._timers: list[asyncio.TimerHandle] = []
        #: Cancellations this clock asked of the task and nobody has accounted for yet.
        self._pending_cancels = 0
        self._soft_interrupt_pending = False
        self.soft_limit_reached = False
        self.hard_limit_reached = False
        #: Set by :mod:`jobs.sync_runner` when a sync task's thread outlived the hard limit.
        self.abandoned_thread: AbandonedThread | None = None

    def start(self) -> None:
        loop = self._task.get_loop()
        if self.limits.soft is not None:
            self._timers.append(loop.call_later(self.limits.soft, self._on_soft_limit))
        if self.limits.hard is not None:
            self._timers.append(loop.call_later(self.limits.hard, self._on_hard_limit))

    def stop(self) -> None:
        """Cancel the timers and forget the cancellations this clock caused (once, at the end)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        # Leave the task's cancellation count as procrastinate's own cancels left it.
        for _ in range(self._pending_cancels):
            self._task.uncancel()
        self._pending_cancels = 0

    def time_left(self) -> float | None:
        """Seconds until the next limit (the soft one first); None when there is none."""
        elapsed = time.monotonic() - self._started
        for limit in (self.limits.soft, self.limits.hard):
            if limit is not None and elapsed < limit:
                return limit - elapsed
        return 0.0 if self.limits else None

    @property
    def stop_requested(self) -> bool:
        return self.soft_limit_reached or self.hard_limit_reached

    def _on_soft_limit(self) -> None:
        self.soft_limit_reached = True
        if self._interrupt_soft and not self.hard_limit_reached:
            self._soft_interrupt_pending = True
            self._cancel(f"soft time limit of {self.limits.soft:g} s exceeded")

    def _on_hard_limit(self) -> None:
        self.hard_limit_reached = True
        self._cancel(f"time limit of {self.limits.hard:g} s exceeded")

    def _cancel(self, message: str) -> None:
        self._pending_cancels += 1
        self._task.cancel(message)

    def take_soft_interrupt(self) -> bool:
        """True once for the cancellation caused by the soft limit, which the caller converts.

        False when the hard limit, or anyone else (an abort, a shutdown), also asked
        to cancel the task: one ``CancelledError`` is delivered for all of them, and
        theirs must win.
        """
        if not self._soft_interrupt_pending or self.hard_limit_reached:
            return False
        if self._task.cancelling() > self._pending_cancels:
            return False
        self._soft_interrupt_pending = False
        self._pending_cancels -= 1
        self._task.uncancel()
        return True

    def hard_limit_error(self) -> TimeLimitExceeded:
        return TimeLimitExceeded(f"the attempt exceeded its time limit of {self.limits.hard:g} s")

    def soft_limit_error(self) -> SoftTimeLimitExceeded:
        return SoftTimeLimitExceeded(
            f"the attempt exceeded its soft time limit of {self.limits.soft:g} s"
        )


class SoftInterruptible:
    """Await a task's coroutine so the soft limit raises *inside* it, at its current ``await``.

    asyncio can only inject ``CancelledError`` into a task. This awaitable sits
    between the task and the task function's coroutine (the way ``Task`` itself
    drives coroutines) and, when the cancellation thrown in is the clock's soft
    interrupt, throws :class:`SoftTimeLimitExceeded` into the coroutine instead,
    and withdraws the cancellation. Every other cancellation (abort, shutdown,
    hard limit) passes through unchanged.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, T], clock: JobClock) -> None:
        self._coroutine = coroutine
        self._clock = clock

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine = self._coroutine
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                if to_throw is not None:
                    error, to_throw = to_throw, None
                    suspended_on = coroutine.throw(error)
                else:
                    suspended_on = coroutine.send(to_send)
            except StopIteration as finished:
                return finished.value
            try:
                to_send = yield suspended_on
            except GeneratorExit:
                coroutine.close()  # what ``yield from`` does when its caller is closed
                raise
            except asyncio.CancelledError as cancelled:
                to_send = None
                soft = self._clock.take_soft_interrupt()
                to_throw = self._clock.soft_limit_error() if soft else cancelled
            except BaseException as error:
                to_send = None
                to_throw = error
