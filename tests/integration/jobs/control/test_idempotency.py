"""Idempotency-Key on POST /jobs and POST /batches, key expiry, and unique jobs, with races."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from api.app import create_app
from db.types import Connection
from harness.conditions import eventually
from jobs.control import idempotency
from jobs.control.enqueue import JobCreate, defer_prepared, enqueue, prepare
from jobs.errors import AlreadyEnqueued
from jobs.maintenance import retention
from jobs.maintenance import tasks as maintenance
from jobs.settings import Settings
from migrations import runner
from tests.integration.helpers import count

Conn = psycopg.AsyncConnection[Any]
BODY: dict[str, Any] = {"task": "tools.run", "args": {"tool": "a"}}
#: Concurrent requests in the race tests.
RACERS = 50


@pytest.fixture
async def wide_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app whose pool lets many requests reach Postgres at once (real races)."""
    application = create_app(settings.model_copy(update={"pool_max_size": 20}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://pgjobs.test") as http:
            yield http


async def _keys(conn: Conn) -> list[tuple[str, int | None, bool]]:
    cursor = await conn.execute(
        "SELECT key, job_id, expires_at <= now() FROM pgjobs_idempotency_keys ORDER BY key"
    )
    return [(str(key), job_id, bool(expired)) for key, job_id, expired in await cursor.fetchall()]


async def _expire(conn: Conn, key: str) -> None:
    await conn.execute(
        "UPDATE pgjobs_idempotency_keys SET expires_at = now() - interval '1 second'"
        " WHERE key = %s",
        [key],
    )


async def test_replay_returns_the_original_job_with_200(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    first = await client.post("/jobs", json=BODY, headers={"Idempotency-Key": "same"})
    replay = await client.post("/jobs", json=BODY, headers={"Idempotency-Key": "same"})
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers["location"] == f"/jobs/{first.json()['id']}"
    assert replay.json()["args"] == first.json()["args"]
    assert await count(conn, "procrastinate_jobs") == 1
    assert await _keys(conn) == [("same", first.json()["id"], False)]


async def test_a_replay_is_the_same_request_whatever_its_defaults_and_key_order(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    first = await client.post(
        "/jobs",
        json={"task": "tools.run", "args": {"tool": "a"}},
        headers={"Idempotency-Key": "k"},
    )
    spelled_out = await client.post(
        "/jobs",
        json={"args": {"tool": "a"}, "priority": None, "unique": False, "task": "tools.run"},
        headers={"Idempotency-Key": "k"},
    )
    assert (first.status_code, spelled_out.status_code) == (201, 200)
    assert await count(conn, "procrastinate_jobs") == 1


async def test_same_key_with_another_body_is_409_and_writes_nothing(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    await client.post("/jobs", json=BODY, headers={"Idempotency-Key": "k"})
    other = await client.post(
        "/jobs", json={**BODY, "priority": 5}, headers={"Idempotency-Key": "k"}
    )
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency_key_reused"
    assert await count(conn, "procrastinate_jobs") == 1


async def test_requests_without_a_key_are_never_deduplicated(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    for _ in range(2):
        assert (await client.post("/jobs", json=BODY)).status_code == 201
    assert await count(conn, "procrastinate_jobs") == 2
    assert await _keys(conn) == []


async def test_keys_expire_after_the_configured_ttl(settings: Settings, conn: Conn) -> None:
    application = create_app(settings.model_copy(update={"idempotency_ttl_seconds": 90}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.post("/jobs", json=BODY, headers={"Idempotency-Key": "ttl"})
    cursor = await conn.execute(
        "SELECT extract(epoch FROM expires_at - created_at) FROM pgjobs_idempotency_keys"
    )
    assert await cursor.fetchall() == [(90,)]


async def test_an_expired_key_may_be_reused_and_creates_a_new_job(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    first = await client.post("/jobs", json=BODY, headers={"Idempotency-Key": "old"})
    await _expire(conn, "old")
    # even with another body: the old request is forgotten
    again = await client.post(
        "/jobs", json={**BODY, "priority": 3}, headers={"Idempotency-Key": "old"}
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] != first.json()["id"]
    assert await count(conn, "procrastinate_jobs") == 2
    assert await _keys(conn) == [("old", again.json()["id"], False)]
    replay = await client.post(
        "/jobs", json={**BODY, "priority": 3}, headers={"Idempotency-Key": "old"}
    )
    assert (replay.status_code, replay.json()["id"]) == (200, again.json()["id"])


async def test_concurrent_identical_requests_create_exactly_one_job(
    wide_client: httpx.AsyncClient, conn: Conn
) -> None:
    responses = await asyncio.gather(
        *(
            wide_client.post("/jobs", json=BODY, headers={"Idempotency-Key": "race"})
            for _ in range(RACERS)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (RACERS - 1) + [201], [r.text for r in responses if r.is_error]
    assert len({response.json()["id"] for response in responses}) == 1
    assert await count(conn, "procrastinate_jobs") == 1
    assert await count(conn, "procrastinate_events") == 1  # the losers' inserts were undone


async def test_concurrent_reuses_of_an_expired_key_create_exactly_one_new_job(
    wide_client: httpx.AsyncClient, conn: Conn
) -> None:
    first = await wide_client.post("/jobs", json=BODY, headers={"Idempotency-Key": "again"})
    await _expire(conn, "again")
    responses = await asyncio.gather(
        *(
            wide_client.post("/jobs", json=BODY, headers={"Idempotency-Key": "again"})
            for _ in range(RACERS)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (RACERS - 1) + [201], [r.text for r in responses if r.is_error]
    (new_id,) = {response.json()["id"] for response in responses}
    assert new_id != first.json()["id"]
    assert await count(conn, "procrastinate_jobs") == 2
    assert await _keys(conn) == [("again", new_id, False)]


async def _claim_and_hold(database_url: str, key: str) -> tuple[Conn, int]:
    """Create a job claiming ``key`` in a transaction left open: the key is held, uncommitted."""
    holder = await psycopg.AsyncConnection.connect(database_url)
    new_job = prepare(JobCreate(task=BODY["task"], args=BODY["args"]))
    claim = idempotency.claim(
        scope="api",
        key=key,
        endpoint="POST /jobs",
        body=BODY,
        ttl_seconds=60,
    )
    (job,) = await defer_prepared(holder, [new_job], created_by="api", idempotency=claim)
    return holder, job.id


async def _wait_until_blocked(conn: Conn) -> None:
    """Wait until some other session waits on a lock (the request racing the holder)."""

    async def blocked() -> bool:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = await cursor.fetchone()
        return row is not None and row[0] > 0

    await eventually(blocked, interval=0.01, what="the request to wait for the key's holder")


async def test_a_request_waiting_on_the_key_replays_the_holder_once_it_commits(
    client: httpx.AsyncClient, conn: Conn, database_url: str
) -> None:
    holder, held_id = await _claim_and_hold(database_url, "held")
    async with holder:
        request = asyncio.create_task(
            client.post("/jobs", json=BODY, headers={"Idempotency-Key": "held"})
        )
        await _wait_until_blocked(conn)
        await holder.commit()
        response = await request
    assert (response.status_code, response.json()["id"]) == (200, held_id)
    assert await count(conn, "procrastinate_jobs") == 1


async def test_a_request_waiting_on_the_key_creates_when_the_holder_rolls_back(
    client: httpx.AsyncClient, conn: Conn, database_url: str
) -> None:
    holder, held_id = await _claim_and_hold(database_url, "held")
    async with holder:
        request = asyncio.create_task(
            client.post("/jobs", json=BODY, headers={"Idempotency-Key": "held"})
        )
        await _wait_until_blocked(conn)
        await holder.rollback()
        response = await request
    assert response.status_code == 201
    assert response.json()["id"] != held_id
    assert await count(conn, "procrastinate_jobs") == 1
    assert await _keys(conn) == [("held", response.json()["id"], False)]


async def test_unique_jobs_are_refused_while_an_identical_one_is_queued(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    unique = {"task": "tools.run", "args": {"tool": "grep"}, "unique": True}
    first = await client.post("/jobs", json=unique)
    assert first.status_code == 201
    assert first.json()["queueing_lock"].startswith("unique:tools.run:")
    # same validated arguments (defaults spelled out, keys reordered): the same job
    same = await client.post(
        "/jobs",
        json={"task": "tools.run", "args": {"input": {}, "tool": "grep"}, "unique": True},
    )
    assert same.status_code == 409
    assert same.json()["error"] == "already_enqueued"
    other_args = await client.post("/jobs", json={**unique, "args": {"tool": "sed"}})
    assert other_args.status_code == 201
    not_unique = await client.post("/jobs", json={**unique, "unique": False})
    assert not_unique.status_code == 201  # unique is opt-in per request

    # once the first is no longer queued, an identical job may be queued again
    assert (await client.post(f"/jobs/{first.json()['id']}/cancel")).status_code == 200
    assert (await client.post("/jobs", json=unique)).status_code == 201
    assert await count(conn, "procrastinate_jobs") == 4


async def test_unique_and_queueing_lock_together_are_refused(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    response = await client.post("/jobs", json={**BODY, "unique": True, "queueing_lock": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "unique"]
    assert await count(conn, "procrastinate_jobs") == 0


async def test_concurrent_identical_unique_jobs_create_exactly_one(
    wide_client: httpx.AsyncClient, conn: Conn
) -> None:
    body = {**BODY, "unique": True}
    responses = await asyncio.gather(*(wide_client.post("/jobs", json=body) for _ in range(RACERS)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (RACERS - 1), [r.text for r in responses if r.is_error]
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"already_enqueued"}
    assert await count(conn, "procrastinate_jobs") == 1


async def test_replaying_a_unique_job_with_its_key_is_a_replay_not_a_conflict(
    wide_client: httpx.AsyncClient, conn: Conn
) -> None:
    """The replay conflicts on the job's queueing lock before it reaches the key."""
    body = {**BODY, "unique": True}
    first = await wide_client.post("/jobs", json=body, headers={"Idempotency-Key": "u"})
    replay = await wide_client.post("/jobs", json=body, headers={"Idempotency-Key": "u"})
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["id"] == first.json()["id"]
    racing = await asyncio.gather(
        *(wide_client.post("/jobs", json=body, headers={"Idempotency-Key": "v"}) for _ in range(10))
    )
    # "v" is a new key, but its job is identical to the queued one: refused, never replayed
    assert {response.status_code for response in racing} == {409}
    assert await count(conn, "procrastinate_jobs") == 1


async def test_unique_jobs_from_application_code(database_url: str, conn: Conn) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as app_conn:
        await enqueue(app_conn, "tools.run", {"tool": "a"}, unique=True)
        with pytest.raises(AlreadyEnqueued, match=r"unique:tools\.run:"):
            await enqueue(app_conn, "tools.run", {"tool": "a"}, unique=True)
    assert await count(conn, "procrastinate_jobs") == 1


async def test_batch_replay_returns_the_original_batch(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    body = {"jobs": [BODY, {**BODY, "args": {"tool": "b"}}]}
    first = await client.post("/batches", json=body, headers={"Idempotency-Key": "b"})
    replay = await client.post("/batches", json=body, headers={"Idempotency-Key": "b"})
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    other = await client.post("/batches", json={"jobs": [BODY]}, headers={"Idempotency-Key": "b"})
    assert other.status_code == 409
    assert await count(conn, "procrastinate_jobs") == 2


async def test_a_key_is_bound_to_its_endpoint(client: httpx.AsyncClient, conn: Conn) -> None:
    assert (await client.post("/jobs", json=BODY, headers={"Idempotency-Key": "e"})).is_success
    batch = await client.post("/batches", json={"jobs": [BODY]}, headers={"Idempotency-Key": "e"})
    assert batch.status_code == 409
    assert batch.json()["error"] == "idempotency_key_reused"
    assert await count(conn, "procrastinate_jobs") == 1


async def test_purge_deletes_expired_keys_only(
    client: httpx.AsyncClient, conn: Conn, database_url: str
) -> None:
    for key in ("k1", "k2", "k3"):
        body = {**BODY, "args": {"tool": key}}
        await client.post("/jobs", json=body, headers={"Idempotency-Key": key})
    await _expire(conn, "k1")
    await _expire(conn, "k2")
    app_conn: Connection
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as app_conn:
        assert await idempotency.purge_expired(app_conn, limit=1) == 1
        assert await idempotency.purge_expired(app_conn) == 1
        assert await idempotency.purge_expired(app_conn) == 0
    assert [key for key, _, _ in await _keys(conn)] == ["k3"]
    assert await count(conn, "procrastinate_jobs") == 3  # keys go, jobs stay


async def test_retention_purges_expired_keys(client: httpx.AsyncClient, conn: Conn) -> None:
    for key in ("old", "new"):
        await client.post(
            "/jobs", json={**BODY, "args": {"tool": key}}, headers={"Idempotency-Key": key}
        )
    await _expire(conn, "old")
    policy = retention.RetentionPolicy(
        ages=dict.fromkeys(
            ("succeeded", "failed", "cancelled", "aborted"), datetime.timedelta(days=7)
        ),
        maintenance_age=datetime.timedelta(hours=1),
        maintenance_queue=maintenance.MAINTENANCE_QUEUE,
    )
    report = await retention.prune_finished_jobs(conn, policy)
    assert report.idempotency_keys_deleted == 1
    assert [key for key, _, _ in await _keys(conn)] == ["new"]


async def test_deleting_a_job_releases_its_key(client: httpx.AsyncClient, conn: Conn) -> None:
    first = await client.post("/jobs", json=BODY, headers={"Idempotency-Key": "gone"})
    await conn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [first.json()["id"]])
    again = await client.post("/jobs", json=BODY, headers={"Idempotency-Key": "gone"})
    assert again.status_code == 201
    assert await _keys(conn) == [("gone", again.json()["id"], False)]


async def test_keys_of_earlier_revisions_move_to_their_table_and_back(
    empty_database_url: str,
) -> None:
    """Revision pgjobs_0003 carries keys stored on job records over, with a 24 h expiry."""
    runner.upgrade(empty_database_url, "pgjobs_0002")
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as db:
        cursor = await db.execute(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('tools', 'tools.run', 0, NULL,"
            " NULL, '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1]))"
        )
        row = await cursor.fetchone()
        assert row is not None
        job_id = row[0]
        await db.execute(
            "INSERT INTO pgjobs_jobs (job_id, created_by, idempotency_key, request_fingerprint)"
            " VALUES (%s, 'api', 'k', 'f')",
            [job_id],
        )
        runner.upgrade(empty_database_url, "pgjobs_0003")
        cursor = await db.execute(
            "SELECT scope, key, request_fingerprint, job_id, expires_at - created_at"
            " FROM pgjobs_idempotency_keys"
        )
        assert await cursor.fetchall() == [("api", "k", "f", job_id, datetime.timedelta(hours=24))]

        runner.downgrade(empty_database_url, "pgjobs_0002")
        cursor = await db.execute("SELECT idempotency_key, request_fingerprint FROM pgjobs_jobs")
        assert await cursor.fetchall() == [("k", "f")]
