"""Waiting for a condition with a deadline: how tests and benchmarks wait, never sleep-and-hope.

Deadlines are liveness bounds, not performance claims: they are generous so that a
loaded machine (two test suites at once on two cores) makes a test slower, not red.
How fast something happens is measured in ``bench/``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: The default deadline, in seconds: long enough for a process start on a loaded machine.
DEFAULT_TIMEOUT = 60.0


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}: last={last!r}")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """:func:`wait_for` inside an event loop: await ``probe`` until it returns a truthy value."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what or probe}: last={last!r}")
