"""The API while Postgres is down: every route answers (503 + Retry-After, JSON, no secret),
/health says why, and everything recovers by itself when Postgres returns."""

from __future__ import annotations

import concurrent.futures
import functools
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse

from api.app import create_app
from harness.conditions import wait_for
from harness.faults import TASK
from harness.faults.cluster import Cluster
from harness.faults.load import Load
from jobs.settings import Settings

PASSWORD = "s3cret-Pa55w0rd"
#: Routes whose every answer needs the database: during an outage, exactly 503.
DATABASE_ROUTES = {
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/cancel"),
    ("POST", "/jobs/{job_id}/retry"),
    ("GET", "/health/ready"),
}


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: str
    html: bool


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute of the app, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            yield from api_routes(route.routes)


def concrete(path: str) -> str:
    return (
        path.replace("{job_id}", "1")
        .replace("{batch_id}", str(uuid.UUID(int=1)))
        .replace("{", "")
        .replace("}", "")
    )


def sweep(cluster: Cluster) -> list[Answer]:
    """Call every route of the API once, all at once (each may wait for the pool's timeout)."""
    app = create_app(Settings(database_url=cluster.app_url))
    calls = [
        (method, route.path, isinstance(route.response_class, type) and issubclass(
            route.response_class, HTMLResponse
        ))
        for route in api_routes(app.routes)
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"})
    ]  # fmt: skip

    def call(method: str, path: str, html: bool) -> Answer:
        body: dict[str, Any] | None = None
        if method == "POST":
            body = {"task": TASK, "args": {"seconds": 0.1}} if path == "/jobs" else {}
        with (
            httpx.Client(base_url=cluster.base_url, timeout=30) as client,
            client.stream(method, concrete(path), json=body) as response,
        ):
            text = (
                ""
                if "text/event-stream" in response.headers.get("content-type", "")
                else (response.read().decode(errors="replace"))
            )
            return Answer(method, path, response.status_code, dict(response.headers), text, html)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda c: call(*c), calls))


def assert_outage_answers(answers: list[Answer]) -> None:
    by_route = {(answer.method, answer.path): answer for answer in answers}
    assert set(by_route) >= DATABASE_ROUTES, sorted(by_route)
    for answer in answers:
        where = f"{answer.method} {answer.path}: {answer.status} {answer.body[:300]}"
        assert answer.status < 500 or answer.status == 503, where
        assert PASSWORD not in answer.body, where
        if answer.status == 503:
            assert answer.headers.get("retry-after", "").isdigit(), where
            if not answer.html:
                assert answer.headers["content-type"].startswith("application/json"), where
    for route in DATABASE_ROUTES - {("GET", "/health/ready")}:
        answer = by_route[route]
        assert answer.status == 503, answer
        assert httpx.Response(503, text=answer.body).json()["error"] == "database_unavailable"


@pytest.mark.timeout(300)
def test_api_during_a_postgres_outage_and_after(cluster: Cluster) -> None:
    cluster.password = PASSWORD
    cluster.start_api()
    cluster.start_workers(1)
    with Load(cluster.base_url, rate=4, seconds=(0.2, 1.0)) as load:
        time.sleep(2)  # pacing: a few jobs before the outage
        cluster.stop_postgres()
        down_at = time.time()
        try:
            assert_outage_answers(sweep(cluster))
            ready = httpx.get(cluster.base_url + "/health/ready", timeout=30)
            assert ready.status_code == 503
            assert "database" in " ".join(ready.json()["problems"]), ready.json()
            # liveness stays 200 (the process is fine) and reports the last check's finding
            wait_for(
                lambda: (
                    not httpx.get(cluster.base_url + "/health", timeout=10).json()["database"][
                        "reachable"
                    ]
                ),
                timeout=30,
                what="/health to report the database unreachable",
            )
            assert httpx.get(cluster.base_url + "/health", timeout=10).status_code == 200
        finally:
            cluster.start_postgres()
        up_at = time.time()
        wait_for(
            functools.partial(load.accepted_after, up_at),
            timeout=30,
            what="the API to accept jobs again",
        )
        wait_for(
            lambda: httpx.get(cluster.base_url + "/health/ready", timeout=10).status_code == 200,
            timeout=60,
            what="/health/ready to recover",
        )
        time.sleep(2)  # pacing: a few jobs after the outage
    refused = [s for s in load.submissions if down_at < s.at < up_at and s.status != 201]
    assert refused, "the outage did not show"
    assert {s.status for s in refused} <= {503, None}, {s.status for s in refused}

    cluster.wait_until_final(load.accepted, within=120)
    cluster.verdict(load.accepted).assert_sound()
    assert PASSWORD not in cluster.logs(tail=10**7)


@pytest.mark.timeout(180)
def test_api_started_while_postgres_is_down_answers_503_then_recovers(cluster: Cluster) -> None:
    cluster.password = PASSWORD
    cluster.stop_postgres()
    try:
        cluster.start_api()
        created = httpx.post(
            cluster.base_url + "/jobs", json={"task": TASK, "args": {"seconds": 0}}, timeout=30
        )
        assert created.status_code == 503, created.text
        assert created.headers["retry-after"].isdigit()
        assert created.json()["error"] == "database_unavailable"
        assert PASSWORD not in created.text
    finally:
        cluster.start_postgres()
    wait_for(
        lambda: (
            httpx.post(
                cluster.base_url + "/jobs", json={"task": TASK, "args": {"seconds": 0}}, timeout=30
            ).status_code
            == 201
        ),
        timeout=60,
        what="the API to create jobs once Postgres is up",
    )
    assert PASSWORD not in cluster.logs(tail=10**7)
