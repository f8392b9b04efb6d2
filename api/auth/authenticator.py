"""What a request proves: an API key's token or a dashboard session's cookie, checked
against Postgres and remembered for at most ``auth_cache_seconds`` (1 s).

That bound is what makes revocation work everywhere: every API process reads a
credential again at most one second after it last did, so a revoked key, an
expired one, a logout or a deleted user stop working on every process within a
second, with no message between processes to lose. In between, a busy key costs
no query at all. Unknown tokens are remembered too (a client retrying with a
bad token does not cost a query per request), and the memory is bounded: the
least recently used entries go first. (Concurrent first requests with one
credential each look it up: at most once a second, an indexed read each.)
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from api.auth import tokens
from api.auth.principal import Principal, Via, from_credential
from db import access_store
from db.access_store import CredentialRow
from db.types import Connection, Pool

#: Credentials remembered at most (each a few hundred bytes).
CACHE_ENTRIES = 10_000

Lookup = Callable[[Connection, bytes], Awaitable[CredentialRow | None]]


class Authenticator:
    def __init__(
        self,
        pool: Pool,
        *,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = CACHE_ENTRIES,
    ) -> None:
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._cache: OrderedDict[tuple[Via, bytes], tuple[float, Principal | None, float | None]]
        self._cache = OrderedDict()
        #: Database lookups made (the tests count them).
        self.lookups = 0

    async def key(self, token: str) -> Principal | None:
        """The principal of an API key token; None when it is not a live key."""
        if not tokens.KEY_TOKEN.match(token):
            return None
        return await self._principal("bearer", token, access_store.api_key_authenticate)

    async def session(self, token: str) -> Principal | None:
        """The principal of a session cookie; None when the session is over."""
        if not tokens.SESSION_TOKEN.match(token):
            return None
        return await self._principal("session", token, access_store.session_authenticate)

    def forget_session(self, token: str) -> None:
        """Drop what this process remembers of a session (its own logout: at once)."""
        self._cache.pop(("session", tokens.digest(token)), None)

    async def _principal(self, via: Via, token: str, lookup: Lookup) -> Principal | None:
        cache_key = (via, tokens.digest(token))
        now = self._clock()
        cached = self._cache.get(cache_key)
        if cached is not None:
            read_at, principal, expires_at = cached
            if now - read_at < self._cache_seconds:
                self._cache.move_to_end(cache_key)
                if expires_at is not None and time.time() >= expires_at:
                    return None  # a key that expires meanwhile stops at its second
                return principal
        principal, expires_at = await self._read(via, cache_key[1], lookup)
        self._remember(cache_key, now, principal, expires_at)
        return principal

    async def _read(
        self, via: Via, digest: bytes, lookup: Lookup
    ) -> tuple[Principal | None, float | None]:
        self.lookups += 1
        async with self._pool.connection() as conn:
            row = await lookup(conn, digest)
        if row is None:
            return None, None
        expires_at = row.expires_at.timestamp() if row.expires_at is not None else None
        return from_credential(row, via), expires_at

    def _remember(
        self,
        cache_key: tuple[Via, bytes],
        read_at: float,
        principal: Principal | None,
        expires_at: float | None,
    ) -> None:
        if self._cache_seconds <= 0:
            return
        self._cache[cache_key] = (read_at, principal, expires_at)
        self._cache.move_to_end(cache_key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
