"""alembic owns the schema: head = procrastinate's schema.sql + pgjobs' tables; it round-trips."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from psycopg import sql

from db import status
from harness.postgres import PostgresServer
from migrations import procrastinate_sql, runner

PGJOBS_TABLES = {
    "pgjobs_jobs",
    "pgjobs_attempts",
    "pgjobs_batches",
    "pgjobs_idempotency_keys",
    "pgjobs_api_keys",
    "pgjobs_users",
    "pgjobs_sessions",
    "pgjobs_task_catalog",
    "pgjobs_workers",
    "pgjobs_callbacks",
    "pgjobs_callback_attempts",
}


async def _objects(url: str) -> list[tuple[str, str, str]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await status.schema_objects(conn)


def _without_pgjobs(objects: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [
        item
        for item in objects
        if not item[1].startswith("pgjobs_")
        and ".pgjobs_" not in item[1]  # pgjobs' own triggers on procrastinate's tables
        and not item[1].startswith("alembic_version")
    ]


@pytest.fixture
def schema_sql_database(postgres_server: PostgresServer) -> str:
    """A database built from procrastinate's schema.sql, the reference of what head must hold."""
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    schema = importlib.resources.files("procrastinate.sql").joinpath("schema.sql").read_text()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(schema)
    return url


async def test_head_is_procrastinate_schema_plus_pgjobs_tables(
    empty_database_url: str, schema_sql_database: str
) -> None:
    runner.upgrade(empty_database_url)
    migrated = await _objects(empty_database_url)
    reference = await _objects(schema_sql_database)

    assert _without_pgjobs(migrated) == reference
    extra_tables = {name for kind, name, _ in migrated if kind == "table"} - {
        name for kind, name, _ in reference if kind == "table"
    }
    assert extra_tables == PGJOBS_TABLES | {"alembic_version"}


async def test_downgrade_to_base_then_upgrade_round_trips(empty_database_url: str) -> None:
    runner.upgrade(empty_database_url)
    at_head = await _objects(empty_database_url)

    runner.downgrade(empty_database_url, "base")
    assert [item for item in await _objects(empty_database_url) if "alembic" not in item[1]] == []

    runner.upgrade(empty_database_url)
    assert await _objects(empty_database_url) == at_head


async def test_pgjobs_revisions_step_down_and_up(database_url: str) -> None:
    at_head = await _objects(database_url)
    runner.downgrade(database_url, "procrastinate_03_04_00_50")
    assert not {name for _, name, _ in await _objects(database_url)} & PGJOBS_TABLES
    runner.upgrade(database_url)
    assert await _objects(database_url) == at_head


def test_every_packaged_procrastinate_migration_has_its_revision() -> None:
    script = ScriptDirectory.from_config(runner.alembic_config())
    chain = [revision.revision for revision in script.walk_revisions("base", "heads")][::-1]
    procrastinate_chain = [name for name in chain if name.startswith("procrastinate_")]
    expected = [
        procrastinate_sql.revision_id(file) for file in procrastinate_sql.packaged_migrations()
    ]
    assert procrastinate_chain == expected
    # and pgjobs' own revisions all come after procrastinate's
    assert chain[: len(procrastinate_chain)] == procrastinate_chain


def test_revision_files_run_the_packaged_sql_unchanged() -> None:
    versions = Path(runner.MIGRATIONS_DIR, "versions")
    for file in procrastinate_sql.packaged_migrations():
        matching = [
            path
            for path in versions.glob("procrastinate_*.py")
            if f'apply("{file}")' in path.read_text()
        ]
        assert len(matching) == 1, f"{file} must be applied by exactly one revision"


def _notifications(conn: psycopg.Connection[Any], count: int) -> list[tuple[str, str]]:
    """The next ``count`` notifications of ``conn`` as (channel, payload), within 10 s."""
    received = [
        (notify.channel, notify.payload) for notify in conn.notifies(timeout=10, stop_after=count)
    ]
    assert len(received) == count, f"expected {count} notifications, got {received}"
    return received


def test_pgjobs_wakes_workers_exactly_as_procrastinates_own_trigger(
    schema_sql_database: str,
) -> None:
    """pgjobs_notify_queue_v1 (retries, rescues) sends what the job-inserted trigger of
    procrastinate's packaged schema.sql sends: if a procrastinate upgrade changes the
    channel or the payload its workers listen for, this fails."""
    last_procrastinate = procrastinate_sql.revision_id(procrastinate_sql.packaged_migrations()[-1])
    runner.stamp(schema_sql_database, last_procrastinate)  # adopt the schema.sql database
    runner.upgrade(schema_sql_database)
    with (
        psycopg.connect(schema_sql_database, autocommit=True) as listener,
        psycopg.connect(schema_sql_database, autocommit=True) as writer,
    ):
        for channel in ("procrastinate_queue_v1#mail", "procrastinate_any_queue_v1"):
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        row = writer.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
            " VALUES ('mail', 'send', '{}') RETURNING id"
        ).fetchone()
        assert row is not None
        by_procrastinate = _notifications(listener, 2)
        writer.execute("SELECT pgjobs_notify_queue_v1('mail', %s)", [row[0]])
        by_pgjobs = _notifications(listener, 2)
    assert by_pgjobs == by_procrastinate
    channel, payload = by_procrastinate[0]
    assert (channel, json.loads(payload)) == (
        "procrastinate_queue_v1#mail",
        {"type": "job_inserted", "job_id": row[0]},
    )
