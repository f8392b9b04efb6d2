"""The commit watermark: below which event id has every event been seen?

``procrastinate_events.id`` comes from a sequence, taken when the row is
inserted, while the NOTIFY that announces it is sent when its transaction
commits. Two transactions can therefore commit in the other order than their
ids: event 101 can be announced before event 100. A client that saw 101 and
resumes with "everything after 101" would miss 100.

The watermark is the answer a resume cursor needs: the highest id ``W`` such
that every event with an id up to ``W`` has been announced. Ids skipped while
waiting are "missing"; a missing id is given up on after ``grace_seconds``
(its transaction rolled back, which leaves a hole in the sequence for good, or
it is still open after that long). Ids that arrive after being given up on are
still recognised as new, not as duplicates.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable

#: Gaps wider than this are not tracked id by id (a bulk insert without triggers, a
#: sequence jump): the whole range is treated as a hole at once.
MAX_TRACKED_GAP = 10_000
#: How many given-up ids (and ranges) are remembered to recognise late arrivals.
MAX_ABANDONED = 100_000
MAX_ABANDONED_RANGES = 100
#: Ids a reader looks for again at each read (:meth:`CommitWatermark.awaited`).
MAX_AWAITED = 1000
MAX_LATE = 100


class CommitWatermark:
    """Tracks announced event ids; :attr:`value` is the safe resume cursor."""

    def __init__(
        self,
        start: int,
        *,
        grace_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: Highest id announced so far (or the starting point).
        self.high = start
        self._grace = grace_seconds
        self._clock = clock
        #: Ids below ``high`` not yet announced -> when they were first missed.
        #: Inserted in increasing id order, so the first key is the smallest.
        self._missing: OrderedDict[int, float] = OrderedDict()
        self._abandoned: OrderedDict[int, None] = OrderedDict()
        self._abandoned_ranges: list[tuple[int, int]] = []

    def observe(self, event_id: int) -> bool:
        """Record an announced id; False when it was already seen (a duplicate)."""
        if event_id > self.high:
            gap = event_id - self.high - 1
            if 0 < gap <= MAX_TRACKED_GAP:
                now = self._clock()
                for missing_id in range(self.high + 1, event_id):
                    self._missing[missing_id] = now
            elif gap > MAX_TRACKED_GAP:
                self._abandon_range(self.high + 1, event_id - 1)
            self.high = event_id
            return True
        if self._missing.pop(event_id, None) is not None:
            return True
        if event_id in self._abandoned:
            del self._abandoned[event_id]
            return True
        for index, (first, last) in enumerate(self._abandoned_ranges):
            if first <= event_id <= last:
                # A late arrival from a wide gap: new, and not expected twice.
                del self._abandoned_ranges[index]
                if first < event_id:
                    self._abandoned_ranges.append((first, event_id - 1))
                if event_id < last:
                    self._abandoned_ranges.append((event_id + 1, last))
                return True
        return False

    @property
    def value(self) -> int:
        """Every event with an id up to this one has been announced or given up on."""
        self._expire()
        if self._missing:
            return next(iter(self._missing)) - 1
        return self.high

    def awaited(self) -> list[int]:
        """Ids below :attr:`high` a reader of the database should look for again.

        The ones still awaited (up to :data:`MAX_AWAITED`), then the latest given up on
        (up to :data:`MAX_LATE`): a transaction that commits after the grace period is
        still delivered live when it is among those.
        """
        self._expire()
        late = itertools.islice(reversed(self._abandoned), MAX_LATE)
        return [*itertools.islice(self._missing, MAX_AWAITED), *late]

    @property
    def missing(self) -> int:
        """How many ids below :attr:`high` are still awaited."""
        self._expire()
        return len(self._missing)

    def _expire(self) -> None:
        deadline = self._clock() - self._grace
        while self._missing:
            missing_id, since = next(iter(self._missing.items()))
            if since > deadline:
                break
            del self._missing[missing_id]
            self._abandoned[missing_id] = None
            if len(self._abandoned) > MAX_ABANDONED:
                self._abandoned.popitem(last=False)

    def _abandon_range(self, first: int, last: int) -> None:
        self._abandoned_ranges.append((first, last))
        if len(self._abandoned_ranges) > MAX_ABANDONED_RANGES:
            self._abandoned_ranges.pop(0)
