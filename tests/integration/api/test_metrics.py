"""/metrics: queue figures from SQL, worker figures from events, request figures per app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from harness.conditions import eventually
from jobs.settings import Settings
from tests.factories import make_job
from tests.integration.helpers import run_worker_until_idle
from tests.integration.live_server import uncached

Conn = psycopg.AsyncConnection[Any]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scrape_until(
    client: httpx.AsyncClient, name: str, expected: float, **labels: str
) -> Samples:
    """Scrape until a figure reaches ``expected`` (worker figures follow committed events)."""

    async def reached() -> Samples | None:
        samples = await scrape(client)
        return samples if value(samples, name, **labels) == expected else None

    return await eventually(reached, what=f"{name} {labels} to reach {expected}")


@pytest.fixture
async def fresh_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app that reads the database at every scrape (no caching) for exact assertions."""
    application = create_app(uncached(settings))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def fresh(fresh_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fresh_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pgjobs.test") as client:
        yield client


async def test_jobs_by_queue_and_state_lag_and_workers(
    fresh: httpx.AsyncClient, conn: Conn
) -> None:
    for status in ("todo", "todo", "doing", "succeeded", "failed", "cancelled"):
        await make_job(conn, "tools.run", {"tool": "t"}, status=status)
    await make_job(conn, "llm.generate", {"prompt": "p"})
    await conn.execute(
        "UPDATE procrastinate_events SET at = now() - interval '30 seconds' WHERE type = 'deferred'"
    )
    await conn.execute("SELECT procrastinate_register_worker_v1()")
    await conn.execute(
        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour')"
    )

    samples = await scrape(fresh)

    assert value(samples, "pgjobs_jobs", queue="tools", state="todo") == 2
    for state in ("doing", "succeeded", "failed", "cancelled"):
        assert value(samples, "pgjobs_jobs", queue="tools", state=state) == 1
    assert value(samples, "pgjobs_jobs", queue="llm", state="todo") == 1
    assert value(samples, "pgjobs_queue_runnable_jobs", queue="tools") == 2
    lag = value(samples, "pgjobs_queue_lag_seconds", queue="tools")
    assert lag is not None
    assert 30 <= lag < 60
    assert value(samples, "pgjobs_workers", state="alive") == 1
    assert value(samples, "pgjobs_workers", state="stalled") == 1
    assert value(samples, "pgjobs_live_listener_connected") == 1


async def test_worker_figures_come_from_events_of_any_worker(
    fresh: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    await scrape(fresh)  # the first scrape sets where counting starts
    jobs = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(3)]
    rejected = await make_job(conn, "tools.run", {"tool": "r", "reject_first_attempts": 1})
    await run_worker_until_idle(settings)  # a worker the API process knows nothing about

    labels = {"queue": "tools", "task": "tools.run"}
    samples = await scrape_until(
        fresh, "pgjobs_jobs_finished_total", len(jobs), outcome="succeeded", **labels
    )
    assert value(samples, "pgjobs_jobs_finished_total", outcome="failed", **labels) == 1
    assert value(samples, "pgjobs_job_duration_seconds_count", outcome="succeeded", **labels) == 3
    assert value(samples, "pgjobs_job_duration_seconds_count", outcome="failed", **labels) == 1
    assert value(samples, "pgjobs_job_pickup_latency_seconds_count", queue="tools") == 4
    pickup_total = value(samples, "pgjobs_job_pickup_latency_seconds_sum", queue="tools")
    assert pickup_total is not None
    assert pickup_total >= 0

    assert (await fresh.post(f"/jobs/{rejected.id}/retry")).status_code == 200
    await scrape_until(fresh, "pgjobs_job_retries_total", 1, kind="manual", **labels)


async def test_an_attempt_that_started_before_the_first_scrape_is_timed_from_its_history(
    fresh: httpx.AsyncClient, conn: Conn
) -> None:
    job = await make_job(conn, "tools.run", {"tool": "t"}, status="doing")
    await conn.execute(
        "UPDATE procrastinate_events SET at = now() - interval '2 minutes'"
        " WHERE job_id = %s AND type = 'started'",
        [job.id],
    )
    await scrape(fresh)  # counting starts here: the job's start is history
    await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', false)", [job.id])
    labels = {"queue": "tools", "task": "tools.run", "outcome": "succeeded"}
    samples = await scrape_until(fresh, "pgjobs_job_duration_seconds_count", 1, **labels)
    total = value(samples, "pgjobs_job_duration_seconds_sum", **labels)
    assert total is not None
    assert 120 <= total < 180


async def test_a_rescued_attempt_counts_as_a_rescue_and_a_retry(
    fresh: httpx.AsyncClient, conn: Conn
) -> None:
    await scrape(fresh)
    job = await make_job(conn, "tools.run", {"tool": "t"}, status="doing")
    # what the stalled-job rescue does, in one transaction: close the attempt as lost, retry
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO pgjobs_attempts (job_id, attempt, started_at, finished_at, outcome)"
            " VALUES (%(id)s, 1, now(), now(), 'lost')",
            {"id": job.id},
        )
        await conn.execute(
            "SELECT procrastinate_retry_job_v2(%(id)s, NULL, NULL, NULL, NULL)", {"id": job.id}
        )
    labels = {"queue": "tools", "task": "tools.run"}
    samples = await scrape_until(fresh, "pgjobs_job_rescues_total", 1, **labels)
    assert value(samples, "pgjobs_job_retries_total", kind="automatic", **labels) == 1


async def test_requests_are_counted_by_route_template_per_app(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as other_client:
            assert (await client.get("/jobs/424242")).status_code == 404
            assert (await client.get("/no/such/page")).status_code == 404
            mine = await scrape(client)
            theirs = await scrape(other_client)

    assert (
        value(
            mine, "pgjobs_http_requests_total", method="GET", route="/jobs/{job_id}", status="404"
        )
        == 1
    )
    assert (
        value(mine, "pgjobs_http_requests_total", method="GET", route="<unmatched>", status="404")
        == 1
    )
    assert (
        value(
            mine, "pgjobs_http_request_duration_seconds_count", method="GET", route="/jobs/{job_id}"
        )
        == 1
    )
    # the other app has its own registry: it saw only its own scrape
    assert (
        value(
            theirs, "pgjobs_http_requests_total", method="GET", route="/jobs/{job_id}", status="404"
        )
        is None
    )


async def test_invented_queues_do_not_grow_the_metrics(
    fresh: httpx.AsyncClient, conn: Conn
) -> None:
    """2,000 queues nobody declared (written around pgjobs' checks) are one label, not 2,000."""
    await make_job(conn, "tools.run", {"tool": "t"})
    await conn.execute(
        "SELECT procrastinate_defer_jobs_v1(array_agg(ROW('invented-' || n, 'made.up', 0, NULL, "
        "NULL, '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1)) FROM generate_series(1, 2000) n"
    )
    samples = await scrape(fresh)
    queues = {dict(labels).get("queue") for name, labels in samples if name == "pgjobs_jobs"}
    assert queues == {"tools", "(other)"}
    assert value(samples, "pgjobs_jobs", queue="(other)", state="todo") == 2000
    assert value(samples, "pgjobs_queue_runnable_jobs", queue="(other)") == 2000
    assert len((await fresh.get("/metrics")).content) < 64 * 1024
