"""Why a request was refused before its route ran; each carries its HTTP answer."""

from __future__ import annotations

import math


class RequestRefused(Exception):
    status = 403
    code = "forbidden"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        self.message = message
        self.headers = headers or {}
        super().__init__(message)


class NotAuthenticated(RequestRefused):
    """No credentials, or credentials that are not valid (401)."""

    status = 401
    code = "unauthenticated"

    def __init__(self, message: str, *, login_page: bool = False) -> None:
        super().__init__(message, {"WWW-Authenticate": 'Bearer realm="pgjobs"'})
        #: A dashboard page: send the browser to the login page instead.
        self.login_page = login_page


class Forbidden(RequestRefused):
    """Authenticated, but not allowed to do this (403)."""


class CrossSiteRefused(RequestRefused):
    """A state change a browser sent on behalf of another site, or without proof it did not."""

    code = "cross_site_request"


class HostRefused(RequestRefused):
    """A Host header this API does not answer to (a DNS-rebinding page, a wrong proxy)."""

    status = 400
    code = "invalid_host"


class RateLimited(RequestRefused):
    """Over a limit; try again after ``retry_after`` seconds (429)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, {"Retry-After": str(self.retry_after)})
