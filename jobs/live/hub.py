"""Live job events: one LISTEN connection per process, fanned out to many subscribers.

Every state change of a job is a ``procrastinate_events`` row; pgjobs' trigger
``pgjobs_notify_events_v2`` announces each transaction that wrote some on
channel ``pgjobs_events_v2`` when it commits (once, however many it wrote;
payload: its transaction id), and progress is announced on
``pgjobs_progress_v1`` by the task context. The :class:`EventHub` of a process
holds the single connection that LISTENs on both (``db.listener``); on an
events notification it reads what is new from the database on that connection
(unless its last read already saw that transaction: :mod:`jobs.live.snapshot`),
and copies each event into the bounded queue of every matching
:class:`Subscription`, without ever waiting for a subscriber: a subscriber whose
queue is full is dropped (its stream ends, the client reconnects with its last
event id and replays what it missed from the database). So a slow client costs
one queue of memory and never delays the others, nor the database.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import psycopg

from db import observability_store
from db.listener import NotificationListener
from db.types import Connection, Pool
from jobs.background import BackgroundTask
from jobs.live.event import EventFilter, LiveEvent
from jobs.live.reader import EventReader
from jobs.live.watermark import CommitWatermark

logger = logging.getLogger(__name__)

#: NOTIFY channel of pgjobs_notify_events_v2 (migration pgjobs_0012).
EVENTS_CHANNEL = "pgjobs_events_v2"
#: NOTIFY channel of progress_save (jobs.tasks.context).
PROGRESS_CHANNEL = "pgjobs_progress_v1"

#: Rows read per round trip when catching up after a reconnection.
CATCH_UP_PAGE = 1000
#: Job id -> (queue, task) entries kept to label progress notifications.
ROUTE_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event as handed to subscribers; ``json`` is serialised once for all of them."""

    event: LiveEvent
    json: str
    #: The hub's commit watermark right after this event (None before the first connection).
    watermark: int | None
    #: Position in the hub's dispatch order (tells a snapshot from later deliveries).
    sequence: int


class SubscriptionEnded(Exception):
    """The subscription was closed: it fell behind, or the process is shutting down."""


@dataclass(eq=False)
class Subscription:
    """A subscriber's bounded queue of deliveries."""

    event_filter: EventFilter
    maxsize: int
    ended: str | None = None
    _queue: asyncio.Queue[Delivery | None] = field(init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.maxsize)

    def offer(self, delivery: Delivery) -> bool:
        """Queue without waiting; False when the queue is full."""
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            return False
        return True

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            # Wakes a reader blocked on an empty queue; a full queue means it is not blocked.
            if not self._queue.full():
                self._queue.put_nowait(None)

    async def next(self, wait_seconds: float) -> Delivery | None:
        """The next delivery, or None after ``wait_seconds`` without one."""
        if self.ended is not None:
            raise SubscriptionEnded(self.ended)
        try:
            async with asyncio.timeout(wait_seconds):
                delivery = await self._queue.get()
        except TimeoutError:
            return None
        if delivery is None or self.ended is not None:
            raise SubscriptionEnded(self.ended or "closed")
        return delivery

    def ready(self, limit: int) -> list[Delivery]:
        """Up to ``limit`` deliveries already queued, without waiting (to write them at once)."""
        deliveries: list[Delivery] = []
        while len(deliveries) < limit and not self._queue.empty():
            delivery = self._queue.get_nowait()
            if delivery is None or self.ended is not None:
                raise SubscriptionEnded(self.ended or "closed")
            deliveries.append(delivery)
        return deliveries


class _Tasks:
    """Tasks started from a timer callback, kept referenced until they end."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._running.add(task)
        task.add_done_callback(self._running.discard)


class TooManySubscribers(Exception):
    """The process already serves its maximum number of live streams."""


class HubClosed(Exception):
    """The process is shutting down: no new live stream."""


class EventHub:
    """The process's live-event fan-out: one listener, many bounded subscriber queues."""

    def __init__(
        self,
        database_url: str,
        pool: Pool,
        *,
        queue_size: int = 1000,
        max_subscribers: int = 1000,
        gap_grace_seconds: float = 10.0,
        catch_up_limit: int = 10_000,
    ) -> None:
        self.pool = pool
        self._queue_size = queue_size
        self._max_subscribers = max_subscribers
        self._gap_grace = gap_grace_seconds
        self._catch_up_limit = catch_up_limit
        self._listener = NotificationListener(
            database_url,
            [EVENTS_CHANNEL, PROGRESS_CHANNEL],
            on_notify=self._on_notify,
            on_connect=self._on_connect,
        )
        self._listening = BackgroundTask("pgjobs-listener", self._listener.run)
        self._watermark: CommitWatermark | None = None
        self._by_job: dict[int, set[Subscription]] = {}
        self._broad: set[Subscription] = set()
        self._routes: OrderedDict[int, tuple[str | None, str | None]] = OrderedDict()
        self._reader: EventReader | None = None
        self._overdue_timer: asyncio.TimerHandle | None = None
        self._overdue_tasks = _Tasks()
        self._sequence = itertools.count(1)
        self._last_sequence = 0
        self._closed = False
        #: Counters read by /metrics.
        self.events_received = 0
        self.subscribers_dropped = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._listening.start()

    def close(self) -> None:
        """End every stream and refuse new ones (shutdown starts; safe to call twice)."""
        self._closed = True
        if self._overdue_timer is not None:
            self._overdue_timer.cancel()
            self._overdue_timer = None
        self.end_all("server shutting down")

    async def stop(self) -> None:
        self.close()
        await self._listening.stop()

    async def wait_connected(self) -> None:
        await self._listener.wait_connected()

    @property
    def connected(self) -> bool:
        return self._listener.connected

    @property
    def connections(self) -> int:
        """Listener connections opened so far (more than one: it reconnected)."""
        return self._listener.connections

    @property
    def watermark(self) -> int | None:
        """Every event with an id up to this one has been dispatched (None: not connected yet)."""
        return None if self._watermark is None else self._watermark.value

    @property
    def last_sequence(self) -> int:
        """Sequence number of the latest delivery dispatched."""
        return self._last_sequence

    @property
    def subscriber_count(self) -> int:
        return len(self._broad) + sum(len(subs) for subs in self._by_job.values())

    # -- subscribers -----------------------------------------------------------------------

    def subscribe(self, event_filter: EventFilter) -> Subscription:
        if self._closed:
            raise HubClosed()
        if self.subscriber_count >= self._max_subscribers:
            raise TooManySubscribers(self._max_subscribers)
        subscription = Subscription(event_filter, self._queue_size)
        if event_filter.job_id is not None:
            self._by_job.setdefault(event_filter.job_id, set()).add(subscription)
        else:
            self._broad.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        job_id = subscription.event_filter.job_id
        if job_id is None:
            self._broad.discard(subscription)
            return
        subscribers = self._by_job.get(job_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_job[job_id]

    def end_all(self, reason: str) -> None:
        """End every subscription (their streams close; clients reconnect and resume)."""
        for subscription in [*self._broad, *itertools.chain(*self._by_job.values())]:
            subscription.end(reason)
            self.unsubscribe(subscription)

    # -- listener callbacks ----------------------------------------------------------------

    async def _on_connect(self, conn: Connection) -> None:
        if self._watermark is None:
            start = await observability_store.event_max_id(conn)
            self._watermark = CommitWatermark(start, grace_seconds=self._gap_grace)
        else:
            if self._reader is not None:  # read before the connection dropped: theirs first
                await self._dispatch_all(self._reader.overdue(everything=True))
            await self._catch_up(conn, self._watermark)
        self._reader = EventReader(self._watermark.high)

    async def _catch_up(self, conn: Connection, watermark: CommitWatermark) -> None:
        """Dispatch what was committed while the listener was away (it missed the NOTIFYs)."""
        after = watermark.value
        read = 0
        while True:
            rows = await observability_store.event_list_after(
                conn, after, queue=None, task=None, limit=CATCH_UP_PAGE
            )
            for row in rows:
                event = LiveEvent.from_row(row)
                if watermark.observe(row.id):
                    self._dispatch(event)
            read += len(rows)
            if len(rows) < CATCH_UP_PAGE:
                return
            after = rows[-1].id
            if read >= self._catch_up_limit:
                # Too far behind to replay to every subscriber from memory: end the streams,
                # each client resumes from its own cursor (a database replay), and go on live.
                logger.warning("live events: listener was away for %s+ events", read)
                self.end_all("listener fell behind")
                start = await observability_store.event_max_id(conn)
                self._watermark = CommitWatermark(start, grace_seconds=self._gap_grace)
                return

    async def _on_notify(self, conn: Connection, channel: str, payload: str) -> None:
        self.events_received += 1
        if channel == EVENTS_CHANNEL:
            assert self._reader is not None  # set by _on_connect
            assert self._watermark is not None
            events = await self._reader.committed(
                conn, int(payload), awaited_ids=self._watermark.awaited()
            )
            await self._dispatch_all(events)
            self._schedule_overdue()
        elif channel == PROGRESS_CHANNEL:
            await self._progress(payload)
            await asyncio.sleep(0)

    async def _dispatch_all(self, events: list[LiveEvent]) -> None:
        assert self._watermark is not None
        for event in events:
            assert event.id is not None
            if self._watermark.observe(event.id):
                self._remember_route(event.job_id, event.queue, event.task)
                self._dispatch(event)
            # A transaction can bring thousands of events (a batch's), and notifications
            # come in batches: let the subscribers' tasks run between two, so one that
            # keeps up is never dropped.
            await asyncio.sleep(0)

    def _schedule_overdue(self) -> None:
        """Hand out held events whose notification named another transaction, a bit later."""
        if self._overdue_timer is None and self._reader is not None and self._reader.holding:
            self._overdue_timer = asyncio.get_running_loop().call_later(
                self._reader.hold_seconds, self._on_overdue
            )

    def _on_overdue(self) -> None:
        self._overdue_timer = None
        if self._reader is not None:
            overdue = self._reader.overdue()
            if overdue:
                self._overdue_tasks.start(self._dispatch_all(overdue))
            self._schedule_overdue()

    async def _progress(self, payload: str) -> None:
        data = json.loads(payload)
        job_id = int(data["job_id"])
        queue, task = await self._route(job_id)
        self._dispatch(
            LiveEvent(
                job_id=job_id,
                type="progress",
                at=datetime.datetime.now(datetime.UTC),
                queue=queue,
                task=task,
                percent=float(data["percent"]),
                message=data.get("message"),
            )
        )

    def _remember_route(self, job_id: int, queue: str | None, task: str | None) -> None:
        self._routes[job_id] = (queue, task)
        self._routes.move_to_end(job_id)
        if len(self._routes) > ROUTE_CACHE_SIZE:
            self._routes.popitem(last=False)

    async def _route(self, job_id: int) -> tuple[str | None, str | None]:
        """Queue and task of a job, for progress (whose payload carries neither)."""
        known = self._routes.get(job_id)
        if known is not None:
            return known
        # Only for jobs that started before this process listened: one PK lookup each.
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                row = await observability_store.job_route_get(conn, job_id)
        except psycopg.Error as error:  # PoolTimeout included
            logger.warning("live events: no queue/task for job %s (%s)", job_id, error)
            return (None, None)
        route = (row.queue, row.task) if row else (None, None)
        self._remember_route(job_id, *route)
        return route

    def _dispatch(self, event: LiveEvent) -> None:
        assert self._watermark is not None
        job_subscribers = self._by_job.get(event.job_id, ())
        if not job_subscribers and not self._broad:
            return
        self._last_sequence = next(self._sequence)
        delivery = Delivery(
            event=event,
            json=event.to_json(),
            watermark=self._watermark.value,
            sequence=self._last_sequence,
        )
        for subscription in [*job_subscribers, *self._broad]:
            if subscription.event_filter.matches(event) and not subscription.offer(delivery):
                self.subscribers_dropped += 1
                subscription.end("fell behind")
                self.unsubscribe(subscription)
