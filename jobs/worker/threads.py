"""Sync tasks run in a daemon thread of their own, which a hard time limit can walk away from.

procrastinate runs plain ``def`` tasks in the event loop's default executor. A
Python thread cannot be killed, so a task stuck there would hold its worker
slot forever, and at exit the executor joins its threads, so the stuck task
would also keep the process from stopping. pgjobs therefore installs each sync
task as a coroutine that starts one *daemon* thread per attempt and awaits it:

* abort or worker shutdown: the cancellation procrastinate sends is absorbed;
  the task sees ``ctx.should_stop()`` turn true and the attempt ends when the
  thread returns (raising ``JobAborted`` marks it aborted), which is what
  procrastinate itself does for sync tasks;
* hard time limit: the attempt stops waiting at once. The job fails with
  ``TimeLimitExceeded`` (and may be retried), its worker slot is free, and the
  thread is *abandoned*: its ``ctx.should_stop()`` is true, its next
  ``ctx.progress()`` raises, and whatever it returns later is discarded;
* daemon threads never hold up the process's exit, so a worker with a stuck
  thread can still stop and be restarted.

The worker middleware counts abandoned threads still running and stops the
worker at ``PGJOBS_WORKER_MAX_ABANDONED_THREADS``: leaked threads hold memory
and CPU, and only a new process reclaims them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

from jobs.worker.clock import AbandonedThread, JobClock

T = TypeVar("T")

logger = logging.getLogger(__name__)


async def run_in_thread(function: Callable[[], T], *, job_id: int, clock: JobClock | None) -> T:
    """Run ``function`` in a new daemon thread and return its result (see the module doc)."""
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def target() -> None:
        if not outcome.set_running_or_notify_cancel():
            return  # the hard limit passed before the thread even started
        try:
            result = context.run(function)
        except BaseException as error:  # handed to the awaiting coroutine, which re-raises it
            outcome.set_exception(error)
        else:
            outcome.set_result(result)

    thread = threading.Thread(target=target, name=f"pgjobs-job-{job_id}", daemon=True)
    thread.start()
    waiter = asyncio.wrap_future(outcome)
    while True:
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            if clock is not None and clock.hard_limit_reached:
                waiter.cancel()  # nobody will read it; the thread's late result is dropped
                _abandon(clock, thread, outcome, job_id)
                raise
            # An abort or a shutdown: the task is told through ctx.should_stop(), and the
            # attempt lasts until it returns. Withdraw the cancellation and keep waiting.
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()


def _abandon(
    clock: JobClock,
    thread: threading.Thread,
    outcome: concurrent.futures.Future[T],
    job_id: int,
) -> None:
    frame = sys._current_frames().get(thread.ident or -1)
    stack = "".join(traceback.format_stack(frame)) if frame is not None else "(thread ended)"
    abandoned = AbandonedThread(thread=thread, job_id=job_id, stack=stack)
    clock.abandoned_thread = abandoned

    def report_end(done: concurrent.futures.Future[T]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        logger.warning(
            "abandoned thread of job %s ended %.1f s after its hard time limit (%s)",
            job_id,
            time.monotonic() - abandoned.abandoned_at,
            f"raised {type(error).__name__}" if error is not None else "its result is discarded",
        )

    outcome.add_done_callback(report_end)


class AbandonedThreads:
    """The abandoned threads of one worker that are still running."""

    def __init__(self) -> None:
        self._threads: list[AbandonedThread] = []

    def add(self, abandoned: AbandonedThread) -> int:
        """Track one more; returns how many are still alive."""
        self._threads.append(abandoned)
        self._threads = [item for item in self._threads if item.thread.is_alive()]
        return len(self._threads)
