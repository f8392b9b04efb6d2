"""The one connection pool of a pgjobs process.

The API and procrastinate share it (``App.open_async(pool)``), so a request
can write its own rows and defer a job on a single connection.

Connections are in autocommit mode: a single statement is its own
transaction, which is what keeps the create path to one round trip (psycopg
would otherwise send ``BEGIN`` and ``COMMIT`` as round trips of their own).
Code that needs several statements to commit together says so with
``async with conn.transaction():`` (style rule 6: commit at the edge).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

#: Name shown in ``pg_stat_activity.application_name`` for pgjobs connections.
APPLICATION_NAME = "pgjobs"
#: A connection idle in the pool for longer than this is checked before reuse.
CHECK_AFTER_IDLE_SECONDS = 2.0


class IdleCheck:
    """Check a pooled connection before reuse only when it sat idle for a while.

    psycopg_pool's stock ``check`` costs a round trip on every checkout; under
    load connections are reused within milliseconds and that round trip is pure
    overhead. Connections idle for ``after`` seconds (the ones a Postgres
    restart or an idle timeout may have killed) are still checked, so the pool
    heals itself after an outage; a connection broken while busy fails its one
    request (503) and is discarded by the pool.
    """

    def __init__(self, after: float = CHECK_AFTER_IDLE_SECONDS) -> None:
        self.after = after
        self._returned: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def reset(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._returned[conn] = time.monotonic()

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        returned = self._returned.get(conn)
        if returned is None or time.monotonic() - returned > self.after:
            await AsyncConnectionPool.check_connection(conn)


def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    application_name: str = APPLICATION_NAME,
    **pool_kwargs: Any,
) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
    """Build (but do not open) an async pool; the caller opens it in its lifespan."""
    idle_check = IdleCheck()
    pool_kwargs["check"] = idle_check.check  # replaces procrastinate's check-on-every-checkout
    pool_kwargs.setdefault("reset", idle_check.reset)
    return AsyncConnectionPool(
        conninfo=database_url,
        min_size=min_size,
        max_size=max_size,
        # application_name only: procrastinate reuses these kwargs for its own LISTEN
        # connection and passes autocommit itself, so autocommit is set in configure.
        kwargs={"application_name": application_name},
        configure=_autocommit,
        open=False,
        **pool_kwargs,
    )


async def _autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)
