"""What keeps other websites out: same-origin checks on state changes, security headers.

A browser attaches cookies to requests another site makes it send (a form
posted to ``/jobs/1/cancel``, a ``fetch`` in ``no-cors`` mode), so every
state-changing request must prove it is not one of those. It is refused
(403 ``cross_site_request``) when:

- its ``Origin`` is another origin than the API's own (and not in
  ``PGJOBS_CORS_ORIGINS``), or the browser says so in ``Sec-Fetch-Site``;
- it rides on a dashboard session without the session's CSRF token in
  ``X-CSRF-Token`` (a form cannot set headers; a script on another origin
  cannot read the token, nor send the header without a CORS preflight that
  this API refuses);
- it has no credentials at all (``PGJOBS_AUTH=off``) and is not
  ``Content-Type: application/json`` (which a form cannot send either).

A request with ``Authorization: Bearer`` carries its proof itself: browsers
never add that header on their own.

The headers (:class:`SecurityHeaders`) go on every response: a
Content-Security-Policy without inline script that forbids framing, ``nosniff``,
a referrer policy, and ``no-store`` on anything that is not a static file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import tokens
from api.auth.errors import CrossSiteRefused, Forbidden, HostRefused
from api.auth.principal import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
#: What the API answers to when it runs without authentication, whatever is configured.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})

#: The dashboard's policy: its own script and style files only, no inline script or style,
#: no plugin, no framing; data: only for the (empty) favicon.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Swagger UI (/docs) and ReDoc start with an inline script and style: those two pages get
#: them, and nothing else (they show the OpenAPI document, no job data).
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


def own_origin(request: Request) -> str:
    """The API's origin as the browser sees it (scheme from the trusted proxy, if any)."""
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}".lower()


def check_same_origin(
    request: Request, principal: Principal | None, *, allowed_origins: Iterable[str]
) -> None:
    """Refuse a state-changing request another site could have made (see the module doc)."""
    if request.method in SAFE_METHODS:
        return
    allowed = set(allowed_origins)
    origin = request.headers.get("origin")
    if (
        origin is not None
        and origin.lower() != own_origin(request)
        and origin.lower() not in allowed
    ):
        raise CrossSiteRefused(f"requests from origin {origin} may not change anything here")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site") and (origin or "").lower() not in allowed:
        raise CrossSiteRefused("the browser says another site sent this request")
    if principal is None or principal.via == "bearer":
        return
    if principal.via == "session":
        session = session_cookie(request) or ""
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not tokens.same(sent, tokens.csrf_token(session)):
            raise CrossSiteRefused("a dashboard session must send its CSRF token in X-CSRF-Token")
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise CrossSiteRefused(
            "send Content-Type: application/json (or an Authorization header) with a "
            "request that changes something"
        )


SESSION_COOKIE = "pgjobs_session"
#: The name when the cookie is Secure: browsers accept a ``__Host-`` cookie only from https,
#: for the whole host (no Domain), so no subdomain can plant or overwrite it.
SECURE_SESSION_COOKIE = "__Host-pgjobs_session"


def session_cookie_name(request: Request) -> str:
    return SECURE_SESSION_COOKIE if request.url.scheme == "https" else SESSION_COOKIE


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)


def check_host(request: Request, *, allowed_hosts: Iterable[str], open_api: bool) -> None:
    """Refuse Host names not served, and, without authentication, clients not on loopback."""
    host = request.headers.get("host", "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if open_api:
        if name not in LOOPBACK_HOSTS:
            raise HostRefused(
                f"this API runs without authentication and answers only to loopback names, "
                f"not {name!r}"
            )
        if not _loopback(request.client.host if request.client else None):
            raise Forbidden("this API runs without authentication: loopback clients only")
        return
    allowed = {entry.lower() for entry in allowed_hosts}
    if allowed and name not in allowed and host not in allowed:
        raise HostRefused(f"this API does not answer to host {name!r} (PGJOBS_ALLOWED_HOSTS)")


def _loopback(address: str | None) -> bool:
    if address is None:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class SecurityHeaders:
    """Add the security headers to every HTTP response (pure ASGI: streams pass through)."""

    def __init__(self, app: ASGIApp, *, static_prefix: str) -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else CSP
        added = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if not path.startswith(self.static_prefix):
            added.append((b"cache-control", b"no-store"))
        if scope.get("scheme") == "https":
            added.append((b"strict-transport-security", b"max-age=31536000"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = Headers(raw=message["headers"])
                message["headers"] = [
                    *message["headers"],
                    *((name, value) for name, value in added if name.decode() not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
