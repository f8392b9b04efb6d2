"""pgjobs_enqueue_v1: create jobs from any driver, inside the application's own transaction."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from db.catalog_store import Publisher, catalog_publish
from harness.conditions import DEFAULT_TIMEOUT
from jobs.tasks.catalog import published_task
from jobs.tasks.registry import registry
from migrations.runner import sqlalchemy_url
from tests.integration.helpers import count

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def published(conn: Conn) -> None:
    """The demo tasks as a worker publishes them, and the application's own table."""
    await catalog_publish(
        conn,
        Publisher(
            process_id=uuid.uuid4(),
            process_kind="worker",
            host="h",
            pid=1,
            worker_queues=None,
            task_modules=["jobs.examples"],
        ),
        [published_task(spec) for spec in registry],
        forget_after_seconds=3600,
    )
    await conn.execute("CREATE TABLE uploads (id serial PRIMARY KEY, job_id bigint)")


async def test_psycopg_commit_creates_the_job_with_its_record_and_wakes_workers(
    database_url: str, conn: Conn, published: None
) -> None:
    await conn.execute('LISTEN "procrastinate_queue_v1#llm"')
    app_conn = await psycopg.AsyncConnection.connect(database_url)
    async with app_conn, app_conn.transaction():
        cursor = await app_conn.execute(
            "SELECT pgjobs_enqueue_v1('llm.generate', '{\"prompt\": \"hi\"}', priority => 7,"
            " time_limit => 30, created_by => 'billing-app')"
        )
        (job_id,) = await cursor.fetchone() or (None,)
        await app_conn.execute("INSERT INTO uploads (job_id) VALUES (%s)", [job_id])
    notify = await anext(conn.notifies(timeout=DEFAULT_TIMEOUT))
    assert f'"job_id": {job_id}' in notify.payload or str(job_id) in notify.payload
    cursor = await conn.execute(
        "SELECT j.queue_name, j.priority, j.args, r.created_by, r.time_limit_seconds,"
        " (SELECT array_agg(type::text) FROM procrastinate_events e WHERE e.job_id = j.id)"
        " FROM procrastinate_jobs j JOIN pgjobs_jobs r ON r.job_id = j.id WHERE j.id = %s",
        [job_id],
    )
    assert await cursor.fetchone() == (
        "llm",
        7,
        {"prompt": "hi"},
        "billing-app",
        30.0,
        ["deferred"],
    )


async def test_psycopg_rollback_leaves_neither_row(
    database_url: str, conn: Conn, published: None
) -> None:
    async def request(app_conn: Conn) -> None:
        async with app_conn.transaction():
            await app_conn.execute("SELECT pgjobs_enqueue_v1('tools.run', '{\"tool\": \"x\"}')")
            await app_conn.execute("INSERT INTO uploads (job_id) VALUES (1)")
            raise RuntimeError("the request failed after enqueueing")

    async with await psycopg.AsyncConnection.connect(database_url) as app_conn:
        with pytest.raises(RuntimeError):
            await request(app_conn)
    assert await count(conn, "procrastinate_jobs") == 0
    assert await count(conn, "pgjobs_jobs") == 0
    cursor = await conn.execute("SELECT count(*) FROM uploads")
    assert await cursor.fetchone() == (0,)


def test_sqlalchemy_session_commit_and_rollback(database_url: str, published: None) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    enqueue = text("SELECT pgjobs_enqueue_v1(:task, CAST(:args AS jsonb), queue => :queue)")
    try:
        with Session(engine) as session:
            job_id = session.execute(
                enqueue, {"task": "agents.run", "args": '{"agent": "a"}', "queue": "batch"}
            ).scalar_one()
            session.execute(text("INSERT INTO uploads (job_id) VALUES (:id)"), {"id": job_id})
            session.commit()
        with Session(engine) as session:
            session.execute(
                enqueue, {"task": "agents.run", "args": '{"agent": "b"}', "queue": "batch"}
            )
            session.rollback()
        with Session(engine) as session:
            jobs = session.execute(
                text("SELECT id, queue_name, task_name FROM procrastinate_jobs")
            ).all()
            assert [tuple(row) for row in jobs] == [(job_id, "batch", "agents.run")]
            uploads = session.execute(text("SELECT job_id FROM uploads")).scalars().all()
            assert uploads == [job_id]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("pgjobs_enqueue_v1('images.resize')", "unknown task 'images.resize'"),
        ("pgjobs_enqueue_v1('tools.run', '[1]')", "args must be a JSON object"),
        ("pgjobs_enqueue_v1('tools.run', queue => 'bad queue!')", "queue must be 1-40"),
        ("pgjobs_enqueue_v1('tools.run', priority => 5000)", "priority must be between"),
        ("pgjobs_enqueue_v1('tools.run', time_limit => 0)", "time limits must be > 0"),
        (
            "pgjobs_enqueue_v1('tools.run', time_limit => 5, soft_time_limit => 9)",
            "soft_time_limit must not exceed",
        ),
    ],
)
async def test_bad_calls_raise_and_write_nothing(
    conn: Conn, published: None, call: str, message: str
) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message) as raised:
        await conn.execute(f"SELECT {call}")  # test constants
    if "unknown task" in message:
        hint = str(raised.value.diag.message_hint)
        assert hint.startswith("known tasks: agents.run, ")
        assert ", llm.generate, " in hint
    assert await count(conn, "procrastinate_jobs") == 0


async def test_a_queueing_lock_is_honoured(conn: Conn, published: None) -> None:
    call = "SELECT pgjobs_enqueue_v1('tools.run', '{\"tool\": \"t\"}', queueing_lock => 'one')"
    await conn.execute(call)
    with pytest.raises(psycopg.errors.UniqueViolation):
        await conn.execute(call)
