"""The clock of one running attempt: it fires the soft and hard time limits.

Each attempt gets its own :class:`JobClock`, started by the worker middleware
with the job's limits (:mod:`jobs.tasks.time_limits`). It is driven by the
worker's event loop (``call_later``), so limits cost no thread and no polling.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from procrastinate.job_context import JobContext

from jobs.tasks.context import CLOCK_KEY
from jobs.tasks.time_limits import SoftTimeLimitExceeded, TimeLimitExceeded, TimeLimits

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AbandonedThread:
    """A sync task's thread the worker stopped waiting for at the hard time limit."""

    thread: threading.Thread
    job_id: int
    #: Where the thread was when it was abandoned (for the job's error and the logs).
    stack: str
    abandoned_at: float = field(default_factory=time.monotonic)


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
        #: Set by :mod:`jobs.worker.threads` when a sync task's thread outlived the hard limit.
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


def attempt_clock(context: JobContext) -> JobClock | None:
    """The clock the worker middleware started for this attempt (None outside it)."""
    found = context.additional_context.get(CLOCK_KEY)
    return found if isinstance(found, JobClock) else None
