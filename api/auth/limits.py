"""Abuse limits of one API process: job creation per key, live streams per key, logins.

Each is kept in this process's memory (a token bucket, a counter): no round
trip on the create path, and nothing to clean up in Postgres. With N API
processes behind a load balancer a key may therefore create up to N times the
rate; set the rate for one process (docs/security.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from api.auth.errors import RateLimited

#: Buckets kept at most; full (idle) ones are dropped first when there are more.
MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by name: ``rate`` tokens a second, up to ``burst`` saved up.

    A request for more tokens than the burst (a big batch) is let through when
    the bucket is full, and leaves it in debt: the requests that follow wait
    until the rate has paid for it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str, amount: float, *, rate: float, burst: float) -> float | None:
        """Take ``amount`` tokens; None when granted, else the seconds to wait."""
        if rate <= 0:
            return None
        now = self._clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now, rate, burst)
            bucket = self._buckets[name] = _Bucket(tokens=burst, updated=now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        needed = min(amount, burst)
        if bucket.tokens < needed:
            return (needed - bucket.tokens) / rate
        bucket.tokens -= amount
        return None

    def _prune(self, now: float, rate: float, burst: float) -> None:
        full = [
            name
            for name, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * rate >= burst
        ]
        for name in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[name]


class StreamSlots:
    """Live streams open per name; a name over ``limit`` gets no new one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, name: str) -> Callable[[], None]:
        """Take a slot (raises :class:`RateLimited` when none is left); returns its release."""
        count = self._open.get(name, 0)
        if count >= self.limit:
            raise RateLimited(
                f"{name} already has {count} live streams open on this API process "
                f"(PGJOBS_EVENTS_MAX_STREAMS_PER_KEY={self.limit})",
                retry_after=5,
            )
        self._open[name] = count + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open.get(name, 1) - 1
            if left > 0:
                self._open[name] = left
            else:
                self._open.pop(name, None)

        return release

    def count(self, name: str) -> int:
        return self._open.get(name, 0)
