"""Which transactions a read saw: Postgres' snapshot, ``xmin:xmax:xip1,xip2,...``.

Live events are announced once per transaction (``pgjobs_events_v2``, payload:
the transaction's id) and read from the database by the listener. A read's
snapshot tells which committed transactions it saw; a notification of one of
them arrives after the read has already delivered its events, and needs no read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    #: Every transaction below xmin had ended; none from xmax on had started.
    xmin: int
    xmax: int
    #: Transactions in [xmin, xmax) still running when the snapshot was taken.
    in_progress: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, running = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(xid) for xid in running.split(",") if xid))

    def saw(self, xid: int) -> bool:
        """True when a transaction committed before this snapshot was taken, if it committed."""
        if xid < self.xmin:
            return True
        return xid < self.xmax and xid not in self.in_progress
