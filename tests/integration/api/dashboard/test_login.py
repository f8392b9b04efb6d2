"""Dashboard login and logout: cookies, login CSRF, rate limits, where it sends you after."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.auth import tokens
from jobs.settings import Settings
from tests.auth import PASSWORD, make_key, make_user
from tests.integration.api.auth.probe import with_probe

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = with_probe(create_app(settings.model_copy(update={"auth_cache_seconds": 0})))
    async with application.router.lifespan_context(application):
        yield application


def _client(app: FastAPI, base_url: str = "http://pgjobs.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def _form(http: httpx.AsyncClient, next_url: str | None = None) -> str:
    """Open the login page; returns the form's CSRF value (its cookie is in the jar)."""
    page = await http.get("/dashboard/login", params={"next": next_url} if next_url else None)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def _login(http: httpx.AsyncClient, **fields: str) -> httpx.Response:
    csrf = await _form(http)
    return await http.post("/dashboard/login", data={"csrf": csrf, **fields})


def _set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def test_a_user_logs_in_and_gets_a_strict_httponly_session_cookie(
    app: FastAPI, conn: Conn
) -> None:
    await make_user(conn, "alice", "viewer")
    async with _client(app) as http:
        csrf = await _form(http, "/dashboard/jobs?state=failed")
        response = await http.post(
            "/dashboard/login",
            data={
                "csrf": csrf,
                "name": "alice",
                "password": PASSWORD,
                "next": "/dashboard/jobs?state=failed",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/jobs?state=failed"
        (session,) = [c for c in _set_cookies(response) if c.startswith("pgjobs_session=")]
        assert "HttpOnly" in session
        assert "SameSite=strict" in session or "SameSite=Strict" in session
        assert "Path=/" in session
        assert "Secure" not in session  # plain http: the browser would never send it back
        whoami = await http.get("/probe/read")
        assert whoami.json() == {"name": "user:alice", "via": "session"}
    row = await (await conn.execute("SELECT last_login_at FROM pgjobs_users")).fetchone()
    assert row is not None
    assert row[0] is not None


async def test_over_https_the_cookie_is_secure_and_host_bound(app: FastAPI, conn: Conn) -> None:
    await make_user(conn, "alice")
    async with _client(app, "https://jobs.example") as http:
        response = await _login(http, name="alice", password=PASSWORD)
        (session,) = [c for c in _set_cookies(response) if "pgjobs_session=" in c]
        assert session.startswith("__Host-pgjobs_session=")
        assert "Secure" in session
        assert (await http.get("/probe/read")).status_code == 200


async def test_a_wrong_password_shows_the_form_again_and_starts_nothing(
    app: FastAPI, conn: Conn
) -> None:
    await make_user(conn, "alice")
    async with _client(app) as http:
        response = await _login(http, name="alice", password="not the password!")
        assert response.status_code == 401
        assert "wrong user name or password" in response.text
        assert not [c for c in _set_cookies(response) if "pgjobs_session=" in c]
        assert (await http.get("/probe/read")).status_code == 401
    row = await (await conn.execute("SELECT count(*) FROM pgjobs_sessions")).fetchone()
    assert row == (0,)


async def test_a_login_without_its_form_token_is_refused(app: FastAPI, conn: Conn) -> None:
    await make_user(conn, "alice")
    async with _client(app) as http:
        await _form(http)
        forged = await http.post(
            "/dashboard/login", data={"csrf": "guess", "name": "alice", "password": PASSWORD}
        )
        assert forged.status_code == 403
        assert "expired" in forged.text
    async with _client(app) as fresh:  # no login cookie at all: another site's form
        forged = await fresh.post(
            "/dashboard/login", data={"csrf": "x", "name": "alice", "password": PASSWORD}
        )
        assert forged.status_code == 403


async def test_a_login_posted_from_another_origin_is_refused(app: FastAPI, conn: Conn) -> None:
    await make_user(conn, "alice")
    async with _client(app) as http:
        csrf = await _form(http)
        response = await http.post(
            "/dashboard/login",
            data={"csrf": csrf, "name": "alice", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert response.status_code == 403
        assert response.json()["error"] == "cross_site_request"


async def test_login_with_an_api_key(app: FastAPI, conn: Conn) -> None:
    reader = await make_key(conn, ["jobs:read"], name="reader")
    writer = await make_key(conn, ["jobs:create"], name="writer")
    async with _client(app) as http:
        refused = await _login(http, key=writer)
        assert refused.status_code == 401
        assert "jobs:read" in refused.text
        accepted = await _login(http, key=reader)
        assert accepted.status_code == 303
        assert (await http.get("/probe/read")).json() == {"name": "key:reader", "via": "session"}
        await conn.execute("UPDATE pgjobs_api_keys SET revoked_at = now() WHERE name = 'reader'")
        assert (await http.get("/probe/read")).status_code == 401  # the key took its session


async def test_logout_ends_the_session_everywhere(app: FastAPI, conn: Conn) -> None:
    await make_user(conn, "alice")
    async with _client(app) as http:
        await _login(http, name="alice", password=PASSWORD)
        session = http.cookies["pgjobs_session"]
        ignored = await http.post("/dashboard/logout", data={"csrf": "wrong"})
        assert ignored.status_code == 303
        assert (await http.get("/probe/read")).status_code == 200  # a forged logout does nothing
        response = await http.post("/dashboard/logout", data={"csrf": tokens.csrf_token(session)})
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login"
        assert "pgjobs_session" not in http.cookies
    async with _client(app) as other:  # the old cookie, replayed
        other.cookies.set("pgjobs_session", session)
        assert (await other.get("/probe/read")).status_code == 401
    row = await (await conn.execute("SELECT count(*) FROM pgjobs_sessions")).fetchone()
    assert row == (0,)


async def test_login_attempts_are_limited_per_client_and_name(
    settings: Settings, conn: Conn
) -> None:
    limited = create_app(settings.model_copy(update={"login_attempts_per_minute": 3}))
    await make_user(conn, "alice")
    async with limited.router.lifespan_context(limited), _client(limited) as http:
        for _ in range(3):
            assert (
                await _login(http, name="alice", password="wrong password!!")
            ).status_code == 401
        blocked = await _login(http, name="alice", password=PASSWORD)
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        assert "too many login attempts" in blocked.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/jobs", "/dashboard\\@evil", ""]
)
async def test_after_login_only_dashboard_pages(app: FastAPI, conn: Conn, target: str) -> None:
    await make_user(conn, "alice")
    async with _client(app) as http:
        response = await _login(http, name="alice", password=PASSWORD, next=target)
        assert response.headers["location"] == "/dashboard"


async def test_an_open_api_has_no_login_page(settings: Settings) -> None:
    open_app = create_app(settings.model_copy(update={"auth": "off"}))
    async with (
        open_app.router.lifespan_context(open_app),
        _client(open_app, "http://127.0.0.1:8000") as http,
    ):
        response = await http.get("/dashboard/login")
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard"


async def test_the_login_page_runs_no_inline_script(app: FastAPI) -> None:
    async with _client(app) as http:
        page = await http.get("/dashboard/login")
    assert "<script" not in page.text
    assert not re.search(r"<[^>]+\son[a-z]+=", page.text)
    assert "script-src 'self';" in page.headers["content-security-policy"]
