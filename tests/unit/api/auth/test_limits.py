from __future__ import annotations

import pytest

from api.auth.errors import RateLimited
from api.auth.limits import StreamSlots, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_grants_its_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert buckets.take("k", 10, rate=5, burst=10) is None
    assert buckets.take("k", 1, rate=5, burst=10) == pytest.approx(0.2)
    clock.now += 0.2
    assert buckets.take("k", 1, rate=5, burst=10) is None
    assert buckets.take("other", 10, rate=5, burst=10) is None  # buckets are per name


def test_more_than_the_burst_passes_on_a_full_bucket_and_leaves_a_debt() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert buckets.take("k", 50, rate=10, burst=10) is None  # a big batch
    wait = buckets.take("k", 1, rate=10, burst=10)
    assert wait == pytest.approx(4.1)  # 40 owed + 1 needed, at 10 a second
    clock.now += 4.11
    assert buckets.take("k", 1, rate=10, burst=10) is None


def test_rate_zero_means_no_limit() -> None:
    buckets = TokenBuckets(Clock())
    assert all(buckets.take("k", 1000, rate=0, burst=1) is None for _ in range(100))


def test_rate_limited_rounds_retry_after_up_to_whole_seconds() -> None:
    limited = RateLimited("slow down", retry_after=0.2)
    assert limited.retry_after == 1
    assert limited.headers == {"Retry-After": "1"}
    assert limited.status == 429


def test_stream_slots_cap_each_name_and_come_back_when_released() -> None:
    slots = StreamSlots(limit=2)
    first = slots.acquire("key:a")
    slots.acquire("key:a")
    with pytest.raises(RateLimited, match="already has 2 live streams"):
        slots.acquire("key:a")
    slots.acquire("key:b")
    first()
    first()  # releasing twice frees one slot only
    assert slots.count("key:a") == 1
    slots.acquire("key:a")
    assert slots.count("key:a") == 2
