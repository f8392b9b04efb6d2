"""Database errors raised through procrastinate's own calls answer like any outage: 503."""

from __future__ import annotations

import httpx
import psycopg
from procrastinate.exceptions import ConnectorException

from api.app import create_app
from jobs.settings import Settings


async def _get(error: Exception) -> httpx.Response:
    app = create_app(Settings(database_url="postgresql://u:secret-pw@db.invalid/pgjobs"))

    async def fails() -> None:
        raise error

    app.add_api_route("/fails", fails)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://pgjobs.test") as client:
        return await client.get("/fails")


def _wrapped(cause: Exception) -> ConnectorException:
    try:
        raise ConnectorException() from cause
    except ConnectorException as error:
        return error


async def test_a_lost_connection_inside_procrastinate_is_a_503_with_retry_after() -> None:
    response = await _get(_wrapped(psycopg.OperationalError("server closed the connection")))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "database_unavailable"


async def test_any_other_procrastinate_database_error_is_a_json_500_without_details() -> None:
    response = await _get(_wrapped(psycopg.errors.SyntaxError("near secret-pw")))
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "secret-pw" not in response.text
