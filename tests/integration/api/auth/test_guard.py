"""The route guard: credentials, scopes, other websites, hosts, strict input, headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.auth import sessions, tokens
from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.routing import Requires, api_router
from jobs.settings import Settings
from tests.auth import PASSWORD, bearer, make_key, make_user
from tests.integration.api.auth.probe import with_probe

Conn = psycopg.AsyncConnection[Any]


def _client(
    app: FastAPI, base_url: str = "http://pgjobs.test", **transport: Any
) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, **transport), base_url=base_url)


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app with authentication on, reading credentials afresh at every request."""
    app = with_probe(create_app(settings.model_copy(update={"auth_cache_seconds": 0})))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def http(guarded: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(guarded) as client:
        yield client


async def test_no_credentials_is_a_401_in_json_asking_for_a_bearer(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/probe/read")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer pgj_" + "A" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer", "pgj_x"],
)
async def test_bad_credentials_are_a_401(http: httpx.AsyncClient, authorization: str) -> None:
    response = await http.get("/probe/read", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


async def test_a_key_may_do_what_its_scopes_say_and_nothing_else(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    token = await make_key(conn, ["jobs:read"], name="reader")
    response = await http.get("/probe/read", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"name": "key:reader", "via": "bearer"}
    refused = await http.post("/probe/manage", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "forbidden",
        "message": "key:reader lacks the jobs:manage scope this needs",
    }


async def test_admin_may_do_everything(http: httpx.AsyncClient, conn: Conn) -> None:
    token = await make_key(conn, ["admin"])
    assert (await http.post("/probe/manage", headers=bearer(token))).status_code == 200


async def test_a_revoked_key_is_refused(http: httpx.AsyncClient, conn: Conn) -> None:
    token = await make_key(conn, ["jobs:read"], name="soon-gone")
    assert (await http.get("/probe/read", headers=bearer(token))).status_code == 200
    await conn.execute("UPDATE pgjobs_api_keys SET revoked_at = now() WHERE name = 'soon-gone'")
    assert (await http.get("/probe/read", headers=bearer(token))).status_code == 401


async def test_a_public_route_ignores_credentials(http: httpx.AsyncClient) -> None:
    response = await http.get("/probe/public", headers={"Authorization": "Bearer junk"})
    assert response.status_code == 200


async def test_another_origin_may_not_change_anything_even_with_a_key(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    token = await make_key(conn, ["admin"])
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        response = await http.post("/probe/manage", headers={**bearer(token), **headers})
        assert response.status_code == 403, headers
        assert response.json()["error"] == "cross_site_request"
    same = await http.post(
        "/probe/manage",
        headers={**bearer(token), "Origin": "http://pgjobs.test", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 200
    # reading is not a state change: a GET is never refused for its origin
    read = await http.get("/probe/read", headers={**bearer(token), "Origin": "https://x.example"})
    assert read.status_code == 200


async def test_an_allow_listed_origin_may_call_with_a_key(settings: Settings, conn: Conn) -> None:
    configured = settings.model_copy(update={"cors_origins": ("https://app.example",)})
    app = with_probe(create_app(configured))
    token = await make_key(conn, ["admin"])
    async with app.router.lifespan_context(app), _client(app) as http:
        allowed = await http.post(
            "/probe/manage",
            headers={
                **bearer(token),
                "Origin": "https://app.example",
                "Sec-Fetch-Site": "cross-site",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        preflight = await http.options(
            "/probe/manage",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert "access-control-allow-credentials" not in preflight.headers
        other = await http.options(
            "/probe/manage",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in other.headers


async def test_without_an_allow_list_no_cors_header_is_ever_sent(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    token = await make_key(conn, ["admin"])
    response = await http.get(
        "/probe/read", headers={**bearer(token), "Origin": "https://x.example"}
    )
    assert "access-control-allow-origin" not in response.headers
    preflight = await http.options(
        "/probe/manage",
        headers={"Origin": "https://x.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers


async def test_a_session_must_send_its_csrf_token_to_change_anything(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    await make_user(conn, "op", "operator")
    session = (await sessions.login_user(conn, "op", PASSWORD, lifetime_seconds=60)).token
    http.cookies.set("pgjobs_session", session)
    read = await http.get("/probe/read")
    assert read.json() == {"name": "user:op", "via": "session"}
    without = await http.post("/probe/manage")
    assert without.status_code == 403
    assert without.json()["error"] == "cross_site_request"
    wrong = await http.post("/probe/manage", headers={"X-CSRF-Token": tokens.csrf_token("other")})
    assert wrong.status_code == 403
    right = await http.post("/probe/manage", headers={"X-CSRF-Token": tokens.csrf_token(session)})
    assert right.status_code == 200


async def test_open_api_refuses_form_like_state_changes(settings: Settings) -> None:
    app = with_probe(create_app(settings.model_copy(update={"auth": "off"})))
    async with app.router.lifespan_context(app), _client(app, "http://127.0.0.1:8000") as http:
        assert (await http.get("/probe/read")).json() == {"name": "anonymous", "via": "open"}
        form = await http.post(
            "/probe/manage",
            content=b"a=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 403
        assert "application/json" in form.json()["message"]
        bare = await http.post("/probe/manage")
        assert bare.status_code == 403
        as_json = await http.post("/probe/manage", headers={"Content-Type": "application/json"})
        assert as_json.status_code == 200


async def test_open_api_answers_loopback_names_and_clients_only(settings: Settings) -> None:
    app = with_probe(create_app(settings.model_copy(update={"auth": "off"})))
    async with app.router.lifespan_context(app):
        for base in ("http://localhost:8000", "http://127.0.0.1", "http://[::1]:8000"):
            async with _client(app, base) as http:
                assert (await http.get("/probe/read")).status_code == 200, base
        async with _client(app, "http://attacker.example:8000") as http:  # DNS rebinding
            response = await http.get("/probe/read")
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_host"
        async with _client(app, "http://127.0.0.1", client=("10.1.2.3", 5555)) as http:
            response = await http.get("/probe/read")
            assert response.status_code == 403
            assert "loopback" in response.json()["message"]


async def test_allowed_hosts_are_enforced_when_configured(settings: Settings, conn: Conn) -> None:
    configured = settings.model_copy(update={"allowed_hosts": ("jobs.example.com",)})
    app = with_probe(create_app(configured))
    token = await make_key(conn, ["jobs:read"])
    async with app.router.lifespan_context(app):
        async with _client(app, "https://jobs.example.com") as http:
            assert (await http.get("/probe/read", headers=bearer(token))).status_code == 200
        async with _client(app, "http://pgjobs.test") as http:
            assert (await http.get("/probe/read", headers=bearer(token))).status_code == 400


async def test_bodies_postgres_cannot_store_are_422s_naming_the_field(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    headers = {**bearer(await make_key(conn, ["jobs:create"])), "Content-Type": "application/json"}
    response = await http.post("/probe/echo", content=b'{"args": {"x": NaN}}', headers=headers)
    assert response.status_code == 422
    response = await http.post("/probe/echo", content=b'{"args": ["\\u0000"]}', headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "args", 0]
    assert (await http.post("/probe/echo", json={"ok": 1}, headers=headers)).json() == {"ok": 1}


async def test_body_checks_come_after_credentials(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/probe/echo", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


async def test_query_parameters_with_control_characters_are_422s(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    token = await make_key(conn, ["jobs:read"])
    response = await http.get("/probe/read?task=a%00b", headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "task"]


async def test_every_answer_carries_the_security_headers(http: httpx.AsyncClient) -> None:
    for path in ("/probe/read", "/probe/public", "/nowhere", "/dashboard/static/dashboard.css"):
        response = await http.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
    assert (await http.get("/probe/public")).headers["cache-control"] == "no-store"


def test_a_route_without_an_access_rule_cannot_be_built() -> None:
    router = api_router()
    with pytest.raises(RuntimeError, match="exactly one access rule"):

        @router.get("/forgotten")
        async def forgotten() -> None: ...

    with pytest.raises(RuntimeError, match="exactly one access rule"):

        @router.get("/twice")
        async def twice(
            a: Annotated[Principal, Requires(Scope.JOBS_READ)],
            b: Annotated[Principal, Requires(Scope.ADMIN)],
        ) -> None: ...


def test_openapi_declares_the_refusals_and_the_bearer_scheme(guarded: FastAPI) -> None:
    document = guarded.openapi()
    operation = document["paths"]["/probe/manage"]["post"]
    assert {"400", "401", "403", "422", "503"} <= set(operation["responses"])
    assert operation["security"] == [{"apiKey": []}]
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    error = operation["responses"]["401"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    public = document["paths"]["/probe/public"]["get"]
    assert "401" not in public["responses"]
    assert "security" not in public
