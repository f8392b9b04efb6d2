"""One client's live stream: what it missed, from the database, then live events.

Resuming is what makes a live stream trustworthy: a client that reconnects
sends back the cursor of the last message it got (SSE ``Last-Event-ID``) and
receives every state change committed since, then live ones, with the overlap
between the two removed.

Cursors (the SSE ``id`` of each message) are ``E`` or ``E.S``:

* ``E`` is a ``procrastinate_events`` id. On a one-job stream it is the id of
  the event itself: a job's events are written by transactions that hold its
  row lock, so they commit in id order and "after E" is exact. On a stream of
  many jobs it is the hub's commit watermark (``jobs.live.watermark``): every event
  up to ``E`` was delivered before this message, even when transactions
  committed out of id order. A resumed many-jobs stream may therefore repeat a
  few events already delivered (never skip one); each message's JSON carries
  the event's own ``id`` for clients that want to drop repeats.
* ``S`` counts messages sent since ``E`` last advanced (progress reports, and
  on many-jobs streams state changes under an unchanged watermark), so cursors
  strictly increase in (E, S) order. Progress is not an event log: a resumed
  stream gets the stored progress of each running job instead of the reports
  it missed.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from db import observability_store
from jobs.live.event import EventFilter, LiveEvent, progress_event
from jobs.live.hub import Delivery, EventHub, Subscription, SubscriptionEnded

#: Events read per round trip when replaying.
REPLAY_PAGE = 500
#: A resume further behind than this gets a "reset" message instead of the replay.
REPLAY_LIMIT = 10_000
#: Running jobs whose progress a resumed stream is sent.
PROGRESS_SNAPSHOT_LIMIT = 1000
#: Messages written at once at most.
BATCH = 500
#: Seconds between two writes to a stream at least: an idle stream writes an event at
#: once, a busy one every 20 ms with all that came meanwhile (each write costs the
#: server a trip through the ASGI stack and a syscall, whatever its size).
WRITE_INTERVAL = 0.02

_CURSOR = re.compile(r"^(\d{1,18})(?:\.(\d{1,9}))?$")


class InvalidEventCursor(ValueError):
    """A Last-Event-ID that pgjobs did not send."""


@dataclass(frozen=True, slots=True)
class Cursor:
    event_id: int
    step: int = 0

    @classmethod
    def parse(cls, value: str) -> Cursor:
        match = _CURSOR.match(value.strip())
        if match is None:
            raise InvalidEventCursor(f"invalid event cursor {value!r}: expected N or N.M")
        return cls(int(match[1]), int(match[2] or 0))

    def __str__(self) -> str:
        return str(self.event_id) if self.step == 0 else f"{self.event_id}.{self.step}"


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One SSE message: ``id`` is the resume cursor (None: leave the client's as it is)."""

    data: str
    id: str | None = None
    #: SSE event name; None is the default "message" (state changes and progress).
    event: str | None = None


class LiveStream:
    """Replay, then live events, for one client: ``open``, iterate ``items``, ``close``."""

    def __init__(self, hub: EventHub, event_filter: EventFilter, resume: Cursor | None) -> None:
        self._hub = hub
        self._filter = event_filter
        self._resume = resume
        self._one_job = event_filter.job_id is not None
        self._cursor: Cursor | None = resume
        #: One-job streams: id of the last event sent (live events up to it are repeats).
        self._last_event_id = resume.event_id if resume else 0
        #: Many-jobs streams: ids sent by the replay (their live copies are repeats).
        self._replayed: set[int] = set()
        self._replayed_up_to = 0
        #: Live progress dispatched before the snapshot was read is older than it.
        self._snapshot_sequence = 0
        self._subscription: Subscription | None = None
        self._pending: list[StreamItem] = []

    async def open(self) -> None:
        """Subscribe, then read what the client missed; raises before anything is sent.

        Raises TooManySubscribers when the process serves its maximum of streams,
        and psycopg errors when the database cannot be read: the caller answers
        with an error status instead of an empty stream.
        """
        # Subscribed first: what commits during the replay is queued, not lost.
        self._subscription = self._hub.subscribe(self._filter)
        try:
            self._pending = await self._replay()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Unsubscribe (idempotent); the stream's owner calls it whatever happened."""
        if self._subscription is not None:
            self._hub.unsubscribe(self._subscription)
            self._subscription = None

    async def items(self, idle_seconds: float) -> AsyncGenerator[list[StreamItem] | None, None]:
        """Batches of messages: the replay, then live ones as they come (a burst is one batch);
        None after ``idle_seconds`` without any (time for a keep-alive).

        Ends with :class:`jobs.live.hub.SubscriptionEnded` when the hub ends the
        stream (the client fell behind, or the server shuts down).
        """
        subscription = self._subscription
        if subscription is None:
            raise SubscriptionEnded("stream not open")
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), BATCH):
            yield pending[start : start + BATCH]
        loop = asyncio.get_running_loop()
        last_write = float("-inf")
        while True:
            delivery = await subscription.next(idle_seconds)
            if delivery is None:
                yield None
                continue
            pause = last_write + WRITE_INTERVAL - loop.time()
            if pause > 0:
                # A busy stream: what else arrives within the interval goes in the same write.
                await asyncio.sleep(pause)
            # One write for everything already queued: a burst costs one send, not hundreds.
            deliveries = [delivery, *subscription.ready(BATCH - 1)]
            batch = [item for item in map(self._live, deliveries) if item is not None]
            if batch:
                last_write = loop.time()
                yield batch

    async def _replay(self) -> list[StreamItem]:
        if not self._one_job and self._resume is None:
            # A fresh many-jobs stream starts now; its first cursor lets it resume from here.
            mark = self._hub.watermark
            return [
                StreamItem(
                    data=json.dumps({"cursor": mark}, separators=(",", ":")),
                    id=self._advance(mark),
                    event="ready",
                )
            ]
        items: list[StreamItem] = []
        # Sampled before reading: every event up to it is committed, so visible to the reads.
        mark = self._hub.watermark
        async with self._hub.pool.connection() as conn:
            after = self._resume.event_id if self._resume else 0
            while True:
                if self._one_job:
                    assert self._filter.job_id is not None
                    rows = await observability_store.event_list_for_job_after(
                        conn, self._filter.job_id, after, limit=REPLAY_PAGE
                    )
                else:
                    rows = await observability_store.event_list_after(
                        conn, after, queue=self._filter.queue, task=self._filter.task,
                        limit=REPLAY_PAGE,
                    )  # fmt: skip
                for row in rows:
                    items.append(self._state(LiveEvent.from_row(row), replay_mark=mark))
                if len(rows) < REPLAY_PAGE:
                    break
                after = rows[-1].id
                if len(items) >= REPLAY_LIMIT:
                    return [self._reset(f"more than {REPLAY_LIMIT} events to replay")]
            self._snapshot_sequence = self._hub.last_sequence
            progress = await observability_store.progress_list_running(
                conn,
                job_id=self._filter.job_id,
                queue=self._filter.queue,
                task=self._filter.task,
                limit=PROGRESS_SNAPSHOT_LIMIT,
            )
        items.extend(self._progress(progress_event(row).to_json()) for row in progress)
        return items

    def _state(self, event: LiveEvent, *, replay_mark: int | None) -> StreamItem:
        assert event.id is not None
        if self._one_job:
            self._last_event_id = event.id
            base: int | None = event.id
        else:
            self._replayed.add(event.id)
            self._replayed_up_to = max(self._replayed_up_to, event.id)
            # Without a watermark nothing proves the ids below are committed: keep the cursor.
            base = min(event.id, replay_mark) if replay_mark is not None else None
        return StreamItem(data=event.to_json(), id=self._advance(base))

    def _live(self, delivery: Delivery) -> StreamItem | None:
        event = delivery.event
        if event.id is None:  # progress
            if delivery.sequence <= self._snapshot_sequence:
                return None
            return self._progress(delivery.json)
        if self._one_job:
            if event.id <= self._last_event_id:
                return None
            self._last_event_id = event.id
            return StreamItem(data=delivery.json, id=self._advance(event.id))
        if event.id in self._replayed:
            self._replayed.discard(event.id)
            return None
        if self._replayed and (delivery.watermark or 0) >= self._replayed_up_to:
            # Every replayed event that was to arrive live has arrived by now (the hub
            # dispatches all ids up to a watermark before it reports it): stop checking.
            self._replayed.clear()
        return StreamItem(data=delivery.json, id=self._advance(delivery.watermark))

    def _progress(self, data: str) -> StreamItem:
        return StreamItem(data=data, id=self._advance(None))

    def _reset(self, reason: str) -> StreamItem:
        """Tell the client to reload its state: the stream goes on live from now."""
        mark = self._hub.watermark
        self._cursor = None
        self._replayed.clear()
        return StreamItem(
            data=json.dumps({"reason": reason, "cursor": mark}, separators=(",", ":")),
            id=self._advance(mark),
            event="reset",
        )

    def _advance(self, base: int | None) -> str | None:
        """The next cursor: ``base`` if it moves forward, else one more step on the current one."""
        current = self._cursor
        if current is None:
            if base is None:
                return None
            self._cursor = Cursor(base)
        elif base is not None and base > current.event_id:
            self._cursor = Cursor(base)
        else:
            self._cursor = Cursor(current.event_id, current.step + 1)
        return str(self._cursor)
