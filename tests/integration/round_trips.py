"""Count what a connection really sends to Postgres, from libpq's own protocol trace.

"One statement, one round trip" is a claim about the wire, so it is checked on
the wire: libpq traces every protocol message of the connection to a file, and
each round trip ends with exactly one ReadyForQuery from the server.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq

from db.queries import all_queries

#: A statement in the trace: simple protocol ``Query "..."`` or extended ``Parse "" "..."``.
_STATEMENT = re.compile(r'^F\t\d+\t(?:Query\t "|Parse\t "[^"]*" ")(?P<sql>.*)$')


@dataclass
class WireLog:
    #: Round trips: one per ReadyForQuery the server sent.
    round_trips: int = 0
    #: The first line of every statement sent (libpq traces the text as it is).
    statements: list[str] = field(default_factory=list)

    @property
    def queries(self) -> list[str]:
        """The statements sent, by their name in db/sql/ ("?" for text that is no named query)."""
        by_first_line = {sql.splitlines()[0]: name for name, sql in all_queries().items()}
        return [by_first_line.get(statement, "?") for statement in self.statements]


@contextmanager
def wire_log(conn: psycopg.AsyncConnection[Any]) -> Iterator[WireLog]:
    """Trace ``conn``'s protocol messages while the block runs; the log is filled at its end."""
    log = WireLog()
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield log
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        for line in trace.read().decode(errors="replace").splitlines():
            if line.startswith("B\t") and "\tReadyForQuery\t" in line:
                log.round_trips += 1
            elif match := _STATEMENT.match(line):
                log.statements.append(match["sql"])
