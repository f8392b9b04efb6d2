"""Reading announced events from the database, handed out in commit order.

A transaction that writes ``procrastinate_events`` rows announces itself once on
``pgjobs_events_v2`` with its transaction id (migration pgjobs_0012). On such a
notification the :class:`EventReader` reads everything new in one query (events
after its cursor, plus the lower ids the hub still awaits), groups the rows by
the transaction that wrote them (the row's ``xmin``) and hands out only that
transaction's events; the others wait, in memory, for their own notification.
So events leave in the order their transactions committed, as notifications
arrive, interleaved exactly with the progress reports announced between them,
while one read serves every transaction it saw: a notification of a
transaction whose events were already read, or that the last read's snapshot
saw without finding any new event, costs no read.

A transaction's events whose notification does not come within
``hold_seconds`` are handed out anyway: rows written in a subtransaction (a
savepoint) carry its own id, not the one the notification names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from db import observability_store
from db.types import Connection
from jobs.live.event import LiveEvent
from jobs.live.snapshot import Snapshot

#: Rows read per round trip.
PAGE = 1000
#: Notification payloads are 64-bit transaction ids; a row's xmin is the low 32 bits.
XID_MASK = 0xFFFFFFFF


@dataclass
class _Held:
    since: float
    events: dict[int, LiveEvent] = field(default_factory=dict)


class EventReader:
    def __init__(self, after_id: int, *, hold_seconds: float = 1.0) -> None:
        #: Every event with a higher id is yet to be read (lower ones may be awaited).
        self.after_id = after_id
        self.hold_seconds = hold_seconds
        self._seen: Snapshot | None = None
        #: Read, not handed out yet, by the (32-bit) id of the transaction that wrote them.
        self._held: dict[int, _Held] = {}
        #: Reads so far (for /metrics and the benchmark).
        self.reads = 0

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def held_ids(self) -> set[int]:
        return {event_id for held in self._held.values() for event_id in held.events}

    async def committed(
        self, conn: Connection, transaction: int, *, awaited_ids: Sequence[int]
    ) -> list[LiveEvent]:
        """The events of the transaction a notification announced, oldest first."""
        xid = transaction & XID_MASK
        if xid not in self._held and (self._seen is None or not self._seen.saw(transaction)):
            held = self.held_ids()
            await self._read(conn, [i for i in awaited_ids if i not in held])
        found = self._held.pop(xid, None)
        return [] if found is None else sorted(found.events.values(), key=_event_id)

    def overdue(self, *, everything: bool = False) -> list[LiveEvent]:
        """Events held longer than ``hold_seconds`` (their notification named another id)."""
        deadline = float("inf") if everything else time.monotonic() - self.hold_seconds
        late = [xid for xid, held in self._held.items() if held.since < deadline]
        events = [event for xid in late for event in self._held.pop(xid).events.values()]
        return sorted(events, key=_event_id)

    async def _read(self, conn: Connection, awaited_ids: list[int]) -> None:
        self.reads += 1
        seen: Snapshot | None = None
        now = time.monotonic()
        while True:
            after = self.after_id
            new = await observability_store.event_list_new(
                conn, after, awaited_ids=awaited_ids, limit=PAGE
            )
            awaited_ids = []
            # The first page's snapshot: every event it saw is read by the last page.
            seen = seen or Snapshot.parse(new.snapshot)
            fresh = 0
            for xid, row in new.events:
                event = LiveEvent.from_row(row)
                self._held.setdefault(xid, _Held(since=now)).events[row.id] = event
                if row.id > after:
                    fresh += 1
                    self.after_id = max(self.after_id, row.id)
            if fresh < PAGE:
                break
        self._seen = seen


def _event_id(event: LiveEvent) -> int:
    assert event.id is not None
    return event.id
