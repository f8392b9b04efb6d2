"""One LISTEN connection per process, kept alive across database restarts.

NOTIFY is delivered to sessions, so every process that wants live events needs
a connection that stays in LISTEN: this module keeps exactly one. It is a
dedicated autocommit connection, not a pooled one: a pooled connection would be
handed to requests (which must not see stray notifications) and recycled by the
pool (which would silently drop the LISTEN).

Notifications are delivered only while the session exists, so after a
reconnection the ``on_connect`` callback runs on the new connection, after LISTEN
and before any notification is handled: that is where a caller reads what it
missed meanwhile (anything committed after LISTEN arrives as a notification
too, so the caller must tolerate the overlap).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import psycopg
from psycopg import sql

from db.queries import query
from db.status import server_ping
from db.types import Connection

logger = logging.getLogger(__name__)

#: Called on each new connection, after LISTEN, before notifications are handled.
OnConnect = Callable[[Connection], Awaitable[None]]
#: Called with (connection, channel, payload) for each notification, in the order Postgres
#: sent them; it may query the connection (nothing else uses it meanwhile).
OnNotify = Callable[[Connection, str, str], Awaitable[None]]


class NotificationListener:
    """LISTEN on ``channels`` and hand each notification to ``on_notify``, reconnecting forever.

    When the connection fails it waits ``backoff_initial`` seconds, doubling up to
    ``backoff_max`` (with jitter, so a restarted Postgres is not stormed by every
    process at once), and reconnects. While idle it pings the server every
    ``ping_interval`` seconds: a dead connection is noticed within about that
    time instead of whenever the next notification would have arrived.
    """

    def __init__(
        self,
        database_url: str,
        channels: Sequence[str],
        *,
        on_notify: OnNotify,
        on_connect: OnConnect | None = None,
        application_name: str = "pgjobs-listener",
        ping_interval: float = 5.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ) -> None:
        self._database_url = database_url
        self._channels = tuple(channels)
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._application_name = application_name
        self._ping_interval = ping_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._connected = asyncio.Event()
        #: Connections opened so far; more than one means it reconnected.
        self.connections = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until the listener is connected (and ``on_connect`` has run)."""
        await self._connected.wait()

    async def run(self) -> None:
        """Listen until cancelled: the owner runs this as a long-lived asyncio task."""
        delay = self._backoff_initial
        try:
            await self._listen_forever(delay)
        finally:
            self._connected.clear()

    async def _listen_forever(self, delay: float) -> None:
        while True:
            opened = self.connections
            try:
                await self._listen()
            except (psycopg.Error, OSError, TimeoutError) as error:
                if self.connections > opened:  # it was up: back off from the start again
                    delay = self._backoff_initial
                logger.warning(
                    "live events listener lost its connection (%s: %s); reconnecting in %.1fs",
                    type(error).__name__,
                    error,
                    delay,
                )
            finally:
                self._connected.clear()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not crypto)
            delay = min(delay * 2, self._backoff_max)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._database_url,
            autocommit=True,
            application_name=self._application_name,
            # The kernel notices a silently dropped peer even when no ping is in flight.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        ) as conn:
            for channel in self._channels:
                await conn.execute(
                    sql.SQL(query("channel_listen")).format(channel=sql.Identifier(channel))
                )
            if self._on_connect is not None:
                await self._on_connect(conn)
            self.connections += 1
            self._connected.set()
            logger.info("live events listener connected (LISTEN %s)", ", ".join(self._channels))
            while True:
                # notifies() returns after ping_interval without a notification, or with
                # what arrived: they are handled with the connection free (a handler may
                # read from it). What arrives meanwhile is kept by psycopg for the next round.
                received = [
                    notify
                    async for notify in conn.notifies(timeout=self._ping_interval, stop_after=1)
                ]
                for notify in received:
                    await self._handle(conn, notify.channel, notify.payload)
                if not received:
                    async with asyncio.timeout(self._ping_interval):
                        await server_ping(conn)

    async def _handle(self, conn: Connection, channel: str, payload: str) -> None:
        try:
            await self._on_notify(conn, channel, payload)
        except psycopg.OperationalError:
            raise  # the connection is gone: reconnect (on_connect catches up)
        except Exception:
            # A bad payload or a bug in one handler must not take live events down for all.
            logger.exception("live events: could not handle a notification on %s", channel)
