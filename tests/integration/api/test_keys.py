"""/keys: admins manage API keys over HTTP; a token is shown once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from api.app import create_app
from jobs.settings import Settings
from tests.auth import bearer, make_key

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"auth_cache_seconds": 0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pgjobs.test") as client:
            yield client


async def test_an_admin_creates_lists_rotates_and_revokes_keys(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    admin = bearer(await make_key(conn, ["admin"], name="root"))
    created = await http.post(
        "/keys",
        json={"name": "ci-bot", "scopes": ["jobs:read"], "queues": ["llm"], "expires": "90d"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert body["created_by"] == "key:root"
    assert body["token_prefix"] == token[:12]
    assert (body["state"], body["scopes"], body["queues"]) == ("live", ["jobs:read"], ["llm"])
    assert created.headers["location"] == "/keys/ci-bot"

    listed = await http.get("/keys", headers=admin)
    assert {key["name"] for key in listed.json()} == {"root", "ci-bot"}
    assert token not in listed.text
    assert all("token" not in key for key in listed.json())

    rotated = await http.post("/keys/ci-bot/rotate", json={"new_name": "ci-bot-2"}, headers=admin)
    assert rotated.status_code == 201
    assert rotated.json()["queues"] == ["llm"]
    new_token = rotated.json()["token"]

    revoked = await http.post("/keys/ci-bot/revoke", headers=admin)
    assert revoked.status_code == 200
    assert (revoked.json()["state"], revoked.json()["revoked_by"]) == ("revoked", "key:root")
    assert (await http.get("/keys", headers=bearer(token))).status_code == 401
    assert (await http.get("/keys", headers=bearer(new_token))).status_code == 403  # jobs:read
    everything = await http.get("/keys", params={"include_inactive": "true"}, headers=admin)
    assert {key["name"]: key["state"] for key in everything.json()}["ci-bot"] == "revoked"


async def test_only_admins_manage_keys(http: httpx.AsyncClient, conn: Conn) -> None:
    reader = bearer(await make_key(conn, ["jobs:read", "jobs:create", "jobs:manage"]))
    assert (await http.get("/keys", headers=reader)).status_code == 403
    refused = await http.post("/keys", json={"name": "x", "scopes": ["admin"]}, headers=reader)
    assert refused.status_code == 403
    assert (await http.post("/keys/x/revoke", headers=reader)).status_code == 403
    assert (await http.get("/keys")).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "bad name", "scopes": ["jobs:read"]}, "name"),
        ({"name": "x", "scopes": ["jobs:read"], "queues": ["a\nb"]}, "queues"),
        ({"name": "x", "scopes": ["admin"], "queues": ["llm"]}, "scopes"),
        ({"name": "x", "scopes": ["jobs:read"], "expires": "forever"}, "expires"),
        (
            {"name": "x", "scopes": ["jobs:read"], "create_rate_per_second": -1},
            "create_rate_per_second",
        ),
        ({"name": "x", "scopes": ["jobs:read"], "extra": 1}, "extra"),
    ],
)
async def test_bad_key_requests_name_the_field_and_write_nothing(
    http: httpx.AsyncClient, conn: Conn, body: dict[str, Any], field: str
) -> None:
    admin = bearer(await make_key(conn, ["admin"], name="root"))
    response = await http.post("/keys", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert field in [str(part) for item in response.json()["detail"] for part in item["loc"]]
    names = {key["name"] for key in (await http.get("/keys", headers=admin)).json()}
    assert names == {"root"}


async def test_revoking_an_unknown_key_is_a_404(http: httpx.AsyncClient, conn: Conn) -> None:
    admin = bearer(await make_key(conn, ["admin"]))
    response = await http.post("/keys/nobody/revoke", headers=admin)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
