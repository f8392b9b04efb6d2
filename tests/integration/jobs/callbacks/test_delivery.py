"""Completion webhooks end to end: API -> job -> completion -> durable delivery -> a real
HTTP receiver (harness/webhook_receiver.py, written from docs/callbacks.md) -> attempts shown
in the API, the dashboard and SQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from harness.webhook_receiver import HANG, Receiver
from jobs.settings import Settings
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]
SECRET = "a-test-secret-of-some-length"
#: Upper bound of every wait (a shared, loaded machine can be slow; waits end at the condition).
DEADLINE = 90.0


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Callbacks to 127.0.0.1 allowed (a private address: explicitly), short timings."""
    return Settings(
        database_url=database_url,
        environment="test",
        pool_min_size=1,
        pool_max_size=5,
        pool_timeout=5.0,
        data_dir=tmp_path,
        task_modules=("jobs.examples",),
        callback_allowed_hosts=("127.0.0.1", "localhost"),
        callback_allow_private_networks=True,
        callback_secret=SECRET,
        callback_timeout_seconds=0.5,
        callback_max_attempts=3,
        callback_retry_initial_delay_seconds=0.1,
        callback_retry_max_delay_seconds=0.3,
    )


async def create(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/jobs",
        json={"task": "llm.generate", "args": {"prompt": "hi", "max_tokens": 2}, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def delivery_state(client: httpx.AsyncClient, job_id: int, state: str) -> Any:
    async def done() -> bool:
        job = (await client.get(f"/jobs/{job_id}")).json()
        return bool(job["callbacks"]) and job["callbacks"][0]["state"] == state

    return done


async def test_a_receiver_failing_twice_gets_the_signed_outcome_on_the_third_attempt(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    with Receiver(SECRET.encode(), replies=[500, 503, 200]) as receiver:
        job = await create(client, callback_url=receiver.url)
        assert job["callback_url"] == receiver.url
        await run_worker_until(
            settings, delivery_state(client, job["id"], "delivered"), deadline_seconds=DEADLINE
        )

    assert len(receiver.received) == 3
    assert all(request.verified for request in receiver.received)
    keys = {request.headers["idempotency-key"] for request in receiver.received}
    assert len(keys) == 1
    bodies = [json.loads(request.body) for request in receiver.received]
    assert bodies[0]["job"] == bodies[-1]["job"]
    sent = bodies[-1]
    assert sent["id"] == keys.pop()
    assert sent["type"] == "job.finished"
    assert sent["job"]["id"] == job["id"]
    assert sent["job"]["status"] == "succeeded"
    assert sent["job"]["task"] == "llm.generate"
    assert sent["job"]["result"] == {"text": "hi hi", "tokens": 2}
    assert sent["job"]["error"] is None
    assert sent["job"]["finished_at"] >= sent["job"]["started_at"] >= sent["job"]["created_at"]

    shown = (await client.get(f"/jobs/{job['id']}")).json()["callbacks"]
    assert len(shown) == 1
    assert shown[0]["job_status"] == "succeeded"
    assert [a["status_code"] for a in shown[0]["attempts"]] == [500, 503, 200]
    assert [a["error"] is None for a in shown[0]["attempts"]] == [False, False, True]
    assert "answered HTTP 500" in shown[0]["attempts"][0]["error"]
    assert all(a["latency_ms"] > 0 for a in shown[0]["attempts"])
    cursor = await conn.execute(
        "SELECT a.attempt, a.status_code FROM pgjobs_callbacks c "
        "JOIN pgjobs_callback_attempts a USING (delivery_job_id) WHERE c.job_id = %s "
        "ORDER BY a.attempt",
        [job["id"]],
    )
    assert await cursor.fetchall() == [(1, 500), (2, 503), (3, 200)]


async def test_a_hanging_receiver_times_out_and_the_delivery_becomes_a_dead_letter(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    with Receiver(SECRET.encode(), replies=[HANG, HANG, HANG], hang_seconds=3) as receiver:
        job = await create(client, callback_url=receiver.url)
        await run_worker_until(
            settings, delivery_state(client, job["id"], "failed"), deadline_seconds=DEADLINE
        )
    (delivery,) = (await client.get(f"/jobs/{job['id']}")).json()["callbacks"]
    assert len(delivery["attempts"]) == 3
    for attempt in delivery["attempts"]:
        assert attempt["status_code"] is None
        assert "no answer from" in attempt["error"]
        assert "within 0.5 s" in attempt["error"]
        assert attempt["latency_ms"] < 3000  # it did not wait for the receiver
    dead = (await client.get("/dead-letters")).json()
    assert delivery["delivery_job_id"] in [item["id"] for item in dead["items"]]


async def test_a_cancelled_job_reports_it_and_a_job_without_callback_sends_nothing(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    with Receiver(SECRET.encode()) as receiver:
        job = await create(client, callback_url=receiver.url, schedule_in=3600)
        plain = await create(client)
        assert (await client.post(f"/jobs/{job['id']}/cancel")).status_code == 200
        # the cancel committed its delivery with it
        cursor = await conn.execute("SELECT job_id, status FROM pgjobs_callbacks ORDER BY job_id")
        assert await cursor.fetchall() == [(job["id"], "cancelled")]
        await run_worker_until(
            settings, delivery_state(client, job["id"], "delivered"), deadline_seconds=DEADLINE
        )
        await run_worker_until(
            settings, lambda: _succeeded(client, plain["id"]), deadline_seconds=DEADLINE
        )
    (request,) = receiver.received
    assert json.loads(request.body)["job"]["status"] == "cancelled"
    assert (await client.get(f"/jobs/{plain['id']}")).json()["callbacks"] == []


async def _succeeded(client: httpx.AsyncClient, job_id: int) -> bool:
    return bool((await client.get(f"/jobs/{job_id}")).json()["status"] == "succeeded")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/hook", "must be an http:// or https:// URL"),
        ("http://user:secret@127.0.0.1/hook", "must not carry credentials"),
        ("http://evil.example.net/hook", "not on the allow-list"),
        ("http:///nohost", "must name a host"),
    ],
)
async def test_refused_urls_are_422_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, conn: Conn, url: str, message: str
) -> None:
    response = await client.post(
        "/jobs", json={"task": "llm.generate", "args": {"prompt": "x"}, "callback_url": url}
    )
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "callback_url"]
    assert message in detail["msg"]
    cursor = await conn.execute("SELECT count(*) FROM procrastinate_jobs")
    assert await cursor.fetchone() == (0,)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3"])
async def test_private_addresses_are_refused_after_dns_unless_allowed(
    database_url: str, tmp_path: Path, conn: Conn, host: str
) -> None:
    from api.app import create_app

    settings = Settings(
        database_url=database_url,
        environment="test",
        data_dir=tmp_path,
        task_modules=("jobs.examples",),
        callback_allowed_hosts=("*",),
        callback_secret=SECRET,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://pgjobs.test"
        ) as client,
    ):
        response = await client.post(
            "/batches",
            json={
                "jobs": [
                    {"task": "llm.generate", "args": {"prompt": "x"}},
                    {
                        "task": "llm.generate",
                        "args": {"prompt": "x"},
                        "callback_url": f"http://{host}:8080/hook",
                    },
                ]
            },
        )
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "jobs.1.callback_url"]
    assert "resolves to a non-public address" in detail["msg"]
    cursor = await conn.execute("SELECT count(*) FROM procrastinate_jobs")
    assert await cursor.fetchone() == (0,)


async def test_the_job_page_shows_the_callback_attempts(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    with Receiver(SECRET.encode(), replies=[502, 200]) as receiver:
        job = await create(client, callback_url=receiver.url)
        await run_worker_until(
            settings, delivery_state(client, job["id"], "delivered"), deadline_seconds=DEADLINE
        )
    page = (await client.get(f"/dashboard/jobs/{job['id']}")).text
    assert "Callbacks" in page
    assert receiver.url in page
    assert "delivered" in page
    assert "502" in page
    assert "answered HTTP 502" in page


async def test_a_redirect_is_not_followed_but_retried(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    with Receiver(SECRET.encode(), replies=[302, 200]) as receiver:
        job = await create(client, callback_url=receiver.url)
        await run_worker_until(
            settings, delivery_state(client, job["id"], "delivered"), deadline_seconds=DEADLINE
        )
    (delivery,) = (await client.get(f"/jobs/{job['id']}")).json()["callbacks"]
    assert [a["status_code"] for a in delivery["attempts"]] == [302, 200]
    assert "redirects are not followed" in delivery["attempts"][0]["error"]
    assert len(receiver.received) == 2  # nothing went to where a Location would point


async def test_the_delivery_exists_exactly_when_the_final_state_commits(
    client: httpx.AsyncClient, conn: Conn, database_url: str
) -> None:
    job = await create(client, callback_url="http://127.0.0.1:9/hook", schedule_in=3600)
    async with (
        await psycopg.AsyncConnection.connect(database_url) as other,
        other.transaction(force_rollback=True),
    ):
        await other.execute("SELECT procrastinate_cancel_job_v1(%s, false, false)", [job["id"]])
        cursor = await other.execute("SELECT count(*) FROM pgjobs_callbacks")
        assert await cursor.fetchone() == (1,)  # deferred inside the final state's transaction
    # rolled back: neither the cancellation nor its delivery happened
    cursor = await conn.execute(
        "SELECT (SELECT count(*) FROM pgjobs_callbacks), "
        "(SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'pgjobs.deliver_callback'), "
        "(SELECT status::text FROM procrastinate_jobs WHERE id = %s)",
        [job["id"]],
    )
    assert await cursor.fetchone() == (0, 0, "todo")
