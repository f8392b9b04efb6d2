"""/health is liveness (no database), /health/ready runs every readiness check and says why."""

from __future__ import annotations

import datetime
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.observability import Observability
from harness.conditions import eventually
from jobs.settings import Settings
from tests.factories import make_job

Conn = psycopg.AsyncConnection[Any]


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pgjobs.test")


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app that must serve queue llm with at most 1 s of lag, re-checking every 0.1 s."""
    configured = settings.model_copy(
        update={
            "ready_queues": ("llm",),
            "ready_max_queue_lag_seconds": 1.0,
            "health_check_interval_seconds": 0.1,
        }
    )
    application = create_app(configured)
    async with application.router.lifespan_context(application):
        yield application


async def test_liveness_answers_at_once_while_the_database_is_down(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(
        Settings(
            database_url=f"postgresql://nobody@127.0.0.1:{port}/none",
            environment="test",
            pool_min_size=1,
            pool_max_size=1,
            data_dir=tmp_path,
            health_check_interval_seconds=3600,  # no background check during the test
        )
    )
    async with app.router.lifespan_context(app), _client(app) as client:
        last_check = app.state.observability.monitor.last
        live = await client.get("/health")
        ready = await client.get("/health/ready")

    assert live.status_code == 200
    # liveness runs no check (the checks are what touch the database): it reports the last
    # background one, while readiness checks again
    assert last_check is not None
    live_checked_at = datetime.datetime.fromisoformat(live.json()["checked_at"])
    assert live_checked_at == last_check.checked_at
    assert datetime.datetime.fromisoformat(ready.json()["checked_at"]) > live_checked_at
    assert live.json()["status"] == "down"
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    body = ready.json()
    assert body["database"]["reachable"] is False
    assert "database unreachable" in body["problems"]
    assert "live events listener not connected (reconnecting)" in body["problems"]


async def test_ready_needs_a_live_worker_and_says_so(strict_app: FastAPI, conn: Conn) -> None:
    async with _client(strict_app) as client:
        lonely = await client.get("/health/ready")
        assert lonely.status_code == 503
        assert lonely.json()["problems"] == ["no live worker: jobs are accepted but will not run"]

        await conn.execute("SELECT procrastinate_register_worker_v1()")
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.json()
        assert ready.json()["status"] == "ok"
        assert ready.json()["live_events"] is True

        await conn.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
        )
        stalled = await client.get("/health/ready")
        assert stalled.status_code == 503
        assert stalled.json()["workers"]["alive"] == 0


async def test_ready_fails_when_a_required_queue_lags(strict_app: FastAPI, conn: Conn) -> None:
    await conn.execute("SELECT procrastinate_register_worker_v1()")
    waiting = await make_job(conn, "llm.generate", {"prompt": "p"})
    other = await make_job(conn, "tools.run", {"tool": "t"})
    # both have been runnable for a minute (nobody serves their queues)
    await conn.execute(
        "UPDATE procrastinate_events SET at = now() - '60 seconds'::interval"
        " WHERE job_id = ANY(%s)",
        [[waiting.id, other.id]],
    )
    async with _client(strict_app) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["problems"] == ["queue llm: oldest runnable job has waited 60s (limit 1s)"]
    assert body["queues"]["llm"]["runnable"] == 1
    assert body["queues"]["llm"]["ok"] is False
    assert body["queues"]["tools"]["oldest_seconds"] >= 60  # reported, not required
    assert body["queues"]["tools"]["ok"] is True


async def test_ready_fails_while_live_events_are_down(strict_app: FastAPI, conn: Conn) -> None:
    await conn.execute("SELECT procrastinate_register_worker_v1()")
    observability: Observability = strict_app.state.observability
    await observability.hub.stop()
    async with _client(strict_app) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["problems"] == ["live events listener not connected (reconnecting)"]


async def test_liveness_reports_the_background_check(strict_app: FastAPI, conn: Conn) -> None:
    async with _client(strict_app) as client:
        assert (await client.get("/health")).json()["status"] == "degraded"  # no worker
        await conn.execute("SELECT procrastinate_register_worker_v1()")

        async def ok() -> dict[str, Any] | None:  # the monitor re-checks every 0.1 s
            body: dict[str, Any] = (await client.get("/health")).json()
            return body if body["status"] == "ok" else None

        body = await eventually(ok, what="the background check to see the worker")
    assert body["workers"]["alive"] == 1
    assert body["checked_at"] is not None
