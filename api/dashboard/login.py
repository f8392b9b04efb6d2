"""``/dashboard/login`` and ``/dashboard/logout``: sessions for people.

A user logs in with a name and password (``pgjobs users create``) or pastes an
API key that has ``jobs:read``; either way the browser gets a session cookie
(HttpOnly, SameSite=Strict, Secure over https) and the dashboard acts with
that user's role or that key's scopes.

The login form is protected against login CSRF (another site logging a
visitor in as someone else) by a double-submit token: a random value in a
SameSite=Strict cookie that the form must echo, on top of the Origin check
every state change gets (:mod:`api.auth.browser`). Logout takes the session's
CSRF token. Attempts are limited per client address and per name
(``PGJOBS_LOGIN_ATTEMPTS_PER_MINUTE``).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import sessions, tokens
from api.auth.access import Access
from api.auth.browser import SECURE_SESSION_COOKIE, SESSION_COOKIE, session_cookie
from api.auth.errors import RateLimited
from api.dashboard.routes import templates
from api.deps import ServicesDep
from api.routing import PUBLIC, api_router

router = api_router(prefix="/dashboard", include_in_schema=False)

LOGIN_COOKIE = "pgjobs_login"
HOME = "/dashboard"


def safe_next(target: str | None) -> str:
    """Where to go after login: a dashboard path only (never another site)."""
    if target and target.startswith(HOME) and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def secure(request: Request, access: Access) -> bool:
    setting = access.settings.cookie_secure
    return setting == "always" or (setting == "auto" and request.url.scheme == "https")


def _page(
    request: Request,
    *,
    csrf: str,
    next_url: str,
    error: str | None = None,
    status_code: int = 200,
    name: str = "",
) -> HTMLResponse:
    context: dict[str, Any] = {"csrf": csrf, "next": next_url, "error": error, "name": name}
    response = templates().TemplateResponse(request, "login.html", context, status_code=status_code)
    access: Access = request.app.state.access
    response.set_cookie(
        LOGIN_COOKIE,
        csrf,
        max_age=3600,
        path="/dashboard/login",
        secure=secure(request, access),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
async def login_page(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> Response:
    access: Access = request.app.state.access
    if access.open:
        return RedirectResponse(HOME, 303)  # nothing to log in to
    return _page(request, csrf=secrets.token_urlsafe(32), next_url=safe_next(next_url))


@router.post("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
async def login(request: Request, services: ServicesDep) -> Response:
    access: Access = request.app.state.access
    form = _form(await request.body())
    next_url = safe_next(form.get("next"))
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    sent = form.get("csrf", "")
    if not cookie or not sent or not tokens.same(cookie, sent):
        return _page(
            request,
            csrf=secrets.token_urlsafe(32),
            next_url=next_url,
            error="The login form expired; please try again.",
            status_code=403,
        )
    name = form.get("name", "").strip()
    key = form.get("key", "").strip()
    client = request.client.host if request.client else "unknown"
    try:
        access.take_login(client, name or "api-key")
    except RateLimited as limited:
        response = _page(
            request, csrf=cookie, next_url=next_url, error=limited.message, status_code=429
        )
        response.headers.update(limited.headers)
        return response
    lifetime = access.settings.session_hours * 3600
    try:
        async with services.pool.connection() as conn:
            if key:
                session = await sessions.login_key(conn, key, lifetime_seconds=lifetime)
            else:
                session = await sessions.login_user(
                    conn, name, form.get("password", ""), lifetime_seconds=lifetime
                )
    except sessions.LoginRefused as refused:
        return _page(
            request, csrf=cookie, next_url=next_url, error=str(refused), status_code=401, name=name
        )
    redirect = RedirectResponse(next_url, 303)
    is_secure = secure(request, access)
    redirect.set_cookie(
        SECURE_SESSION_COOKIE if is_secure else SESSION_COOKIE,
        session.token,
        max_age=int(lifetime),
        path="/",
        secure=is_secure,
        httponly=True,
        samesite="strict",
    )
    redirect.delete_cookie(LOGIN_COOKIE, path="/dashboard/login")
    return redirect


@router.post("/logout", dependencies=[PUBLIC])
async def logout(request: Request, services: ServicesDep) -> Response:
    access: Access = request.app.state.access
    form = _form(await request.body())
    token = session_cookie(request)
    if token:
        if not tokens.same(form.get("csrf", ""), tokens.csrf_token(token)):
            return RedirectResponse(HOME, 303)  # not a logout this session asked for
        async with services.pool.connection() as conn:
            await sessions.logout(conn, token)
        access.authenticator.forget_session(token)
    response = RedirectResponse("/dashboard/login", 303)
    for name in (SESSION_COOKIE, SECURE_SESSION_COOKIE):
        response.delete_cookie(name, path="/", secure=name == SECURE_SESSION_COOKIE)
    return response


def _form(body: bytes) -> dict[str, str]:
    """An urlencoded form's fields (first value of each); undecodable bytes become U+FFFD."""
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}
