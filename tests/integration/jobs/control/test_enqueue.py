"""Creating a job is part of the caller's transaction: commit both or neither."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from db import job_store
from db.pool import create_pool
from jobs.control.enqueue import JobCreate, create_job, enqueue
from jobs.errors import InvalidArguments, UnknownTask
from jobs.examples.workloads import GenerateText
from tests.integration.helpers import count
from tests.integration.round_trips import wire_log

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def invoices(conn: Conn) -> None:
    await conn.execute("CREATE TABLE invoices (id serial PRIMARY KEY, total int NOT NULL)")


async def _invoice_count(conn: Conn) -> int:
    cursor = await conn.execute("SELECT count(*) FROM invoices")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_commit_writes_the_row_and_the_job(
    database_url: str, conn: Conn, invoices: None
) -> None:
    async with (
        await psycopg.AsyncConnection.connect(database_url) as app_conn,
        app_conn.transaction(),
    ):
        await app_conn.execute("INSERT INTO invoices (total) VALUES (42)")
        job = await enqueue(app_conn, "llm.generate", {"prompt": "Summarise invoice 42"})
    assert await _invoice_count(conn) == 1
    assert await count(conn, "procrastinate_jobs") == 1
    assert await count(conn, "pgjobs_jobs") == 1
    assert job.created_by == "app"


async def test_failure_after_the_insert_leaves_nothing(
    database_url: str, conn: Conn, invoices: None
) -> None:
    async def pay_invoice(app_conn: Conn) -> None:
        async with app_conn.transaction():
            await app_conn.execute("INSERT INTO invoices (total) VALUES (42)")
            await enqueue(app_conn, "llm.generate", {"prompt": "p"})
            raise RuntimeError("payment provider said no")

    async with await psycopg.AsyncConnection.connect(database_url) as app_conn:
        with pytest.raises(RuntimeError, match="payment provider"):
            await pay_invoice(app_conn)
    assert await _invoice_count(conn) == 0
    assert await count(conn, "procrastinate_jobs") == 0
    assert await count(conn, "pgjobs_jobs") == 0
    assert await count(conn, "procrastinate_events") == 0


async def test_a_failing_pgjobs_insert_takes_the_procrastinate_job_with_it(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    """The create statement is atomic: when its pgjobs insert fails (here a reused
    Idempotency-Key), procrastinate's row inserted by the same statement is gone too."""
    first = await client.post(
        "/jobs",
        json={"task": "tools.run", "args": {"tool": "a"}},
        headers={"Idempotency-Key": "k1"},
    )
    assert first.status_code == 201
    clash = await client.post(
        "/jobs",
        json={"task": "tools.run", "args": {"tool": "b"}},
        headers={"Idempotency-Key": "k1"},
    )
    assert clash.status_code == 409
    assert clash.json()["error"] == "idempotency_key_reused"
    assert await count(conn, "procrastinate_jobs") == 1
    assert await count(conn, "procrastinate_events") == 1


async def test_bad_input_from_code_raises_before_writing(database_url: str, conn: Conn) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as app_conn:
        with pytest.raises(UnknownTask, match="registered tasks"):
            await enqueue(app_conn, "missing.task", {})
        with pytest.raises(InvalidArguments) as error:
            await enqueue(app_conn, "llm.generate", {"max_tokens": "many"})
    assert {tuple(item["loc"]) for item in error.value.errors} == {("prompt",), ("max_tokens",)}
    assert await count(conn, "procrastinate_jobs") == 0


@pytest.mark.parametrize("key", [None, "fresh-key"])
async def test_the_api_create_path_is_one_round_trip(
    database_url: str, conn: Conn, key: str | None
) -> None:
    """POST /jobs is create_job() on a pool connection: the pool's connections are
    autocommit, so its one statement (the job, its record and a fresh Idempotency-Key)
    is the whole transaction, with no BEGIN/COMMIT round trips around it."""
    pool = create_pool(database_url, min_size=1, max_size=1)
    await pool.open(wait=True)
    try:
        async with pool.connection() as app_conn:
            assert app_conn.autocommit
            with wire_log(app_conn) as wire:
                created = await create_job(
                    app_conn,
                    JobCreate(task="tools.run", args={"tool": "t"}),
                    created_by="api",
                    idempotency_key=key,
                    idempotency_ttl_seconds=60,
                )
    finally:
        await pool.close()
    assert (wire.round_trips, wire.queries) == (1, ["job_defer_many"])
    assert not created.replayed
    assert await count(conn, "procrastinate_jobs") == 1


async def test_enqueue_takes_an_instance_of_the_tasks_model(conn: Conn) -> None:
    job = await enqueue(conn, "llm.generate", GenerateText(prompt="Summarise", max_tokens=5))
    assert (job.args, job.queue, job.status) == (
        {"prompt": "Summarise", "max_tokens": 5, "seconds_per_token": 0.0},
        "llm",
        "todo",
    )
    assert await count(conn, "procrastinate_jobs") == 1


async def test_a_created_job_is_the_row_a_read_returns(database_url: str, conn: Conn) -> None:
    """create_job builds its answer without reading the job back (one round trip): it must
    be the very row job_get reads, field for field, except what only events tell."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as app_conn:
        created = await create_job(
            app_conn,
            JobCreate(task="tools.run", args={"tool": "t"}, priority=7, lock="l", time_limit=9),
            created_by="api",
        )
        read = await job_store.job_get(app_conn, created.detail.job.id)
    assert read is not None
    assert created.detail.job == read
