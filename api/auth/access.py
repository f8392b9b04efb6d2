"""The access services of one app: who a request is, and the limits it is held to.

Built by the app's lifespan (it needs the pool) and reached by the route
guard (:mod:`api.routing`) through ``app.state.access``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from api.auth.authenticator import Authenticator
from api.auth.browser import check_host, session_cookie
from api.auth.errors import NotAuthenticated, RateLimited
from api.auth.limits import StreamSlots, TokenBuckets
from api.auth.principal import Principal, open_principal
from db.types import Pool
from jobs.settings import Settings


@dataclass
class Access:
    settings: Settings
    authenticator: Authenticator
    #: Job creation per principal, and login attempts per client address and per user name.
    buckets: TokenBuckets = field(default_factory=TokenBuckets)
    streams: StreamSlots = field(init=False)

    def __post_init__(self) -> None:
        self.streams = StreamSlots(self.settings.events_max_streams_per_key)

    @classmethod
    def build(cls, settings: Settings, pool: Pool) -> Access:
        return cls(
            settings=settings,
            authenticator=Authenticator(pool, cache_seconds=settings.auth_cache_seconds),
        )

    @property
    def open(self) -> bool:
        """True when the API runs without authentication (PGJOBS_AUTH=off)."""
        return self.settings.auth == "off"

    def check_host(self, request: Request) -> None:
        """Refuse a Host this API does not serve (and non-loopback clients when it is open)."""
        check_host(request, allowed_hosts=self.settings.allowed_hosts, open_api=self.open)

    async def authenticate(self, request: Request) -> Principal | None:
        """Who the request is: a key, a session, everyone (auth off), or None (nobody)."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("send an API key as Authorization: Bearer <token>")
            principal = await self.authenticator.key(token.strip())
            if principal is None:
                raise NotAuthenticated("this API key is not valid (revoked, expired or mistyped)")
            return principal
        cookie = session_cookie(request)
        if cookie:
            principal = await self.authenticator.session(cookie)
            if principal is not None:
                return principal
        return open_principal() if self.open else None

    def take_jobs(self, principal: Principal, jobs: int) -> None:
        """Count ``jobs`` against the principal's creation rate; :class:`RateLimited` beyond."""
        rate = principal.create_rate_per_second or self.settings.create_rate_per_second
        wait = self.buckets.take(
            f"create:{principal.name}", jobs, rate=rate, burst=self.settings.create_burst
        )
        if wait is not None:
            raise RateLimited(
                f"{principal.name} creates jobs faster than {rate:g} per second", retry_after=wait
            )

    def take_login(self, client: str, user: str) -> None:
        """Count a login attempt per client address and per name; :class:`RateLimited` beyond."""
        per_minute = self.settings.login_attempts_per_minute
        for name in (f"login-client:{client}", f"login-user:{user}"):
            wait = self.buckets.take(name, 1, rate=per_minute / 60, burst=per_minute)
            if wait is not None:
                raise RateLimited("too many login attempts; wait a minute", retry_after=wait)
