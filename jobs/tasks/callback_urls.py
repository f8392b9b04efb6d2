"""Which callback URLs pgjobs may call: the SSRF guard, applied at creation and at each send.

A callback URL comes from an API client, so it must never make a worker reach
somewhere the client could not (the cloud metadata service, a database on the
private network, the worker's own loopback ports). A URL is allowed when

1. its scheme is ``http`` or ``https``, it has a host and no user info;
2. its host matches ``PGJOBS_CALLBACK_ALLOWED_HOSTS`` (exact names, ``*.example.com``
   for any subdomain, or ``*`` for any host); an empty list allows none;
3. **every** address the host resolves to is public: loopback, private,
   link-local (169.254.0.0/16, the metadata service), multicast, reserved,
   unspecified and shared (CGNAT) addresses are refused unless
   ``PGJOBS_CALLBACK_ALLOW_PRIVATE_NETWORKS`` is on (for tests and internal receivers).

The check runs after DNS resolution, and the sender connects to the very
address it checked (:class:`Target` carries it), so a name that resolves to
something else a moment later (DNS rebinding) gains nothing. Redirects are not
followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from jobs.errors import InvalidJobOptions
from jobs.settings import Settings

#: Longest callback URL accepted.
MAX_URL_LENGTH = 2000
#: Seconds a resolution may take at creation before the URL is refused.
RESOLVE_TIMEOUT_SECONDS = 5.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(InvalidJobOptions):
    """A callback URL pgjobs will not call (HTTP 422 naming ``callback_url``)."""

    def __init__(self, message: str, field: str = "callback_url") -> None:
        super().__init__(field, message)


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """The allow-list and whether private networks are allowed (from the settings)."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private_networks: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackPolicy:
        return cls(
            allowed_hosts=settings.callback_allowed_hosts,
            allow_private_networks=settings.callback_allow_private_networks,
        )

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.allowed_hosts:
            pattern = pattern.lower().rstrip(".")
            if pattern == "*" or pattern == host:
                return True
            if pattern.startswith("*.") and host.endswith(pattern[1:]):
                return True
        return False

    def address_allowed(self, address: Address) -> bool:
        if self.allow_private_networks:
            return not (address.is_multicast or address.is_unspecified)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class Target:
    """A checked callback URL and the address the request must go to."""

    url: str
    scheme: str
    host: str
    port: int
    address: Address


def check_callback_shape(url: str) -> str:
    """Refuse what no allow-list could accept (scheme, host, credentials, length); returns it.

    What a task declaration and ``enqueue()`` from application code can check without
    the settings; the allow-list and the addresses are checked by the API at creation
    and at every delivery.
    """
    check_url(url, CallbackPolicy(allowed_hosts=("*",)))
    return url


def check_url(url: str, policy: CallbackPolicy) -> tuple[str, str, int]:
    """Refuse a malformed or not allowed URL before any resolution; returns scheme, host, port."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise CallbackRefused(f"is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise CallbackRefused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise CallbackRefused("must name a host")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("must not carry credentials (user:password@)")
    if not policy.allowed_hosts:
        raise CallbackRefused(
            "callbacks are disabled: no host is allowed (PGJOBS_CALLBACK_ALLOWED_HOSTS)"
        )
    if not policy.host_allowed(parts.hostname):
        raise CallbackRefused(
            f"host {parts.hostname!r} is not on the allow-list (PGJOBS_CALLBACK_ALLOWED_HOSTS)"
        )
    default_port = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname, port or default_port


async def resolve(url: str, policy: CallbackPolicy, field: str = "callback_url") -> Target:
    """Check ``url`` and resolve its host; refuse it unless every address is allowed.

    ``field`` names the request field in the refusal (``jobs.3.callback_url`` in a batch).
    """
    try:
        return await _resolve(url, policy)
    except CallbackRefused as refused:
        if field == refused.field:
            raise
        raise CallbackRefused(refused.message, field) from None


async def _resolve(url: str, policy: CallbackPolicy) -> Target:
    scheme, host, port = check_url(url, policy)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM),
                RESOLVE_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError) as error:
            raise CallbackRefused(f"host {host!r} does not resolve ({error})") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise CallbackRefused(f"host {host!r} does not resolve")
    refused = sorted({str(address) for address in addresses if not policy.address_allowed(address)})
    if refused:
        raise CallbackRefused(
            f"host {host!r} resolves to a non-public address ({', '.join(refused)}); "
            "private, loopback and link-local targets need PGJOBS_CALLBACK_ALLOW_PRIVATE_NETWORKS"
        )
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
