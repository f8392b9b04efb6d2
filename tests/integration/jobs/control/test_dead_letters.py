"""GET /dead-letters and POST /dead-letters/retry: failed jobs, listed and retried in bulk."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import httpx
import psycopg
from psycopg import sql

from db.dead_letter_store import DeadLetterFilter
from harness.conditions import DEFAULT_TIMEOUT
from jobs.control import dead_letters
from jobs.control.enqueue import JobCreate, defer_prepared, enqueue, prepare
from jobs.examples.workloads import NoArgs
from jobs.settings import Settings
from jobs.tasks.context import TaskContext
from jobs.tasks.registry import TaskRegistry
from jobs.worker.app import build_app
from tests.factories import make_job
from tests.integration.helpers import count, run_worker_until_idle
from tests.integration.round_trips import wire_log

Conn = psycopg.AsyncConnection[Any]
NOW = datetime.datetime.now(datetime.UTC)


async def make_dead_letters(
    conn: Conn,
    number: int,
    *,
    task: str = "tools.run",
    queue: str | None = None,
    error_type: str = "TransientToolError",
    failed_at: datetime.datetime | None = None,
    queueing_lock: str | None = None,
) -> list[int]:
    """``number`` jobs failed for good, made set-based: through 'doing' to 'failed' as a worker
    would (procrastinate's triggers record the 'started' and 'failed' events), with an error."""
    args = {"agent": "a", "objective": "o"} if task == "agents.run" else {"tool": "t"}
    new_jobs = [
        prepare(JobCreate(task=task, args=args, queue=queue, queueing_lock=queueing_lock))
        for _ in range(number)
    ]
    ids = [job.id for job in await defer_prepared(conn, new_jobs, created_by="test")]
    await conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = ANY(%s)", [ids])
    await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'failed', attempts = attempts + 1"
        " WHERE id = ANY(%s)",
        [ids],
    )
    await conn.execute(
        "UPDATE pgjobs_jobs SET error_type = %s, error_message = 'boom' WHERE job_id = ANY(%s)",
        [error_type, ids],
    )
    if failed_at is not None:
        await conn.execute(
            "UPDATE procrastinate_events SET at = %s WHERE type = 'failed' AND job_id = ANY(%s)",
            [failed_at, ids],
        )
    return ids


async def _statuses(conn: Conn, ids: Sequence[int]) -> dict[int, str]:
    cursor = await conn.execute(
        "SELECT id, status::text FROM procrastinate_jobs WHERE id = ANY(%s)", [list(ids)]
    )
    return dict(await cursor.fetchall())


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get("/dead-letters", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_dead_letters_are_failed_jobs_newest_failure_first(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    (older,) = await make_dead_letters(conn, 1, failed_at=NOW - datetime.timedelta(hours=2))
    (newer,) = await make_dead_letters(conn, 1, failed_at=NOW - datetime.timedelta(hours=1))
    # created after both, but failed before them: listed last
    (earliest,) = await make_dead_letters(conn, 1, failed_at=NOW - datetime.timedelta(hours=3))
    for status in ("todo", "doing", "succeeded", "cancelled", "aborted"):
        await make_job(conn, status=status)

    page = (await client.get("/dead-letters")).json()
    assert [item["id"] for item in page["items"]] == [newer, older, earliest]
    assert page["next_cursor"] is None
    item = page["items"][0]
    assert item["error"] == {"type": "TransientToolError", "message": "boom", "traceback": None}
    assert (item["task"], item["queue"], item["attempts"]) == ("tools.run", "tools", 1)
    assert item["args"]["tool"] == "t"
    failed_at = datetime.datetime.fromisoformat(item["failed_at"])
    assert failed_at == NOW - datetime.timedelta(hours=1)


class AlwaysFails(Exception):
    pass


async def test_a_real_failure_is_a_dead_letter(
    client: httpx.AsyncClient, database_url: str, settings: Settings
) -> None:
    """A worker runs a task that raises and has no retries left: the job is a dead letter."""
    tasks = TaskRegistry()

    @tasks.task(name="tests.always_fails", args=NoArgs, queue="doomed")
    async def always_fails(ctx: TaskContext, args: NoArgs) -> None:
        raise AlwaysFails("no luck")

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as app_conn:
        job = await enqueue(app_conn, "tests.always_fails", {}, tasks=tasks)
    worker = build_app(settings, tasks=tasks)
    async with worker.open_async():
        await worker.run_worker_async(
            wait=False, install_signal_handlers=False, listen_notify=False, queues=["doomed"]
        )

    (item,) = (await client.get("/dead-letters")).json()["items"]
    detail = (await client.get(f"/jobs/{job.id}")).json()
    assert (item["id"], item["task"], item["attempts"]) == (job.id, "tests.always_fails", 1)
    assert item["error"]["type"].endswith("AlwaysFails")
    assert item["error"]["message"] == "no luck"
    assert item["failed_at"] == detail["finished_at"]


async def test_filters(client: httpx.AsyncClient, conn: Conn) -> None:
    day_ago = NOW - datetime.timedelta(days=1)
    old_tool = await make_dead_letters(conn, 1, failed_at=day_ago)
    recent_tool = await make_dead_letters(conn, 1, error_type="ValueError")
    other_queue = await make_dead_letters(conn, 1, queue="urgent")
    agent = await make_dead_letters(conn, 1, task="agents.run")

    assert await _ids(client, task="agents.run") == agent
    assert await _ids(client, queue="urgent") == other_queue
    assert await _ids(client, error_type="ValueError") == recent_tool
    hour_ago = (NOW - datetime.timedelta(hours=1)).isoformat()
    assert await _ids(client, failed_before=hour_ago) == old_tool
    assert sorted(await _ids(client, failed_after=hour_ago)) == sorted(
        recent_tool + other_queue + agent
    )
    assert await _ids(client, task="tools.run", queue="tools", failed_after=hour_ago) == (
        recent_tool
    )
    naive = await client.get("/dead-letters", params={"failed_after": "2030-01-01T00:00:00"})
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["query", "failed_after"]


async def test_keyset_pages_cover_every_dead_letter_once(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    same_time = await make_dead_letters(conn, 5, failed_at=NOW)  # ties: ordered by id
    newest = await make_dead_letters(conn, 1, failed_at=NOW + datetime.timedelta(seconds=1))
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/dead-letters", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest + sorted(same_time, reverse=True)
    assert pages == 3

    bad = await client.get("/dead-letters", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_cursor"
    assert bad.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_bulk_retry_by_filters(client: httpx.AsyncClient, conn: Conn) -> None:
    transient = await make_dead_letters(conn, 3)
    bugs = await make_dead_letters(conn, 2, error_type="KeyError")
    agents = await make_dead_letters(conn, 1, task="agents.run")
    response = await client.post(
        "/dead-letters/retry",
        json={"scope": "matching", "task": "tools.run", "error_type": "TransientToolError"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"matched": 3, "retried": 3, "skipped": 0, "dry_run": False}
    statuses = await _statuses(conn, transient + bugs + agents)
    assert [statuses[job_id] for job_id in transient] == ["todo"] * 3
    assert [statuses[job_id] for job_id in bugs + agents] == ["failed"] * 3
    job = (await client.get(f"/jobs/{transient[0]}")).json()
    assert [event["type"] for event in job["events"]] == [
        "deferred",
        "started",
        "failed",
        "retried",
    ]
    assert job["attempts"] == 1  # kept: the attempt history stays true
    assert sorted(await _ids(client)) == sorted(bugs + agents)


async def test_bulk_retry_by_ids_only_touches_dead_letters(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    failed = await make_dead_letters(conn, 3)
    succeeded = await make_job(conn, status="succeeded")
    response = await client.post(
        "/dead-letters/retry",
        json={"scope": "matching", "ids": [failed[0], failed[2], succeeded.id, 999_999]},
    )
    assert response.json() == {"matched": 2, "retried": 2, "skipped": 0, "dry_run": False}
    statuses = await _statuses(conn, [*failed, succeeded.id])
    assert statuses == {
        failed[0]: "todo",
        failed[1]: "failed",
        failed[2]: "todo",
        succeeded.id: "succeeded",
    }


async def test_a_bulk_retry_must_say_what_it_retries(client: httpx.AsyncClient, conn: Conn) -> None:
    failed = await make_dead_letters(conn, 2)
    refusals = [
        ({}, ["body", "scope"], "validation_error"),
        ({"scope": "everything"}, ["body", "scope"], "validation_error"),
        ({"scope": "matching"}, ["body", "scope"], "unscoped_retry"),
        ({"scope": "matching", "ids": []}, ["body", "ids"], "validation_error"),
        ({"scope": "all", "task": "tools.run"}, ["body", "scope"], "unscoped_retry"),
    ]
    for body, location, error in refusals:
        response = await client.post("/dead-letters/retry", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"] == error, body
        assert response.json()["detail"][0]["loc"] == location, body
    assert set((await _statuses(conn, failed)).values()) == {"failed"}

    everything = await client.post("/dead-letters/retry", json={"scope": "all"})
    assert everything.json() == {"matched": 2, "retried": 2, "skipped": 0, "dry_run": False}
    assert set((await _statuses(conn, failed)).values()) == {"todo"}


async def test_a_dry_run_counts_and_changes_nothing(client: httpx.AsyncClient, conn: Conn) -> None:
    failed = await make_dead_letters(conn, 4)
    response = await client.post("/dead-letters/retry", json={"scope": "all", "dry_run": True})
    assert response.json() == {"matched": 4, "retried": 4, "skipped": 0, "dry_run": True}
    assert set((await _statuses(conn, failed)).values()) == {"failed"}
    assert await count(conn, "procrastinate_events") == 4 * 3  # no 'retried' event


async def test_queueing_locks_are_respected(client: httpx.AsyncClient, conn: Conn) -> None:
    """One queued job per queueing lock: the retry skips what would break it, and says so."""
    (held,) = await make_dead_letters(conn, 1, queueing_lock="held")
    await make_job(conn, queueing_lock="held")  # queued, holds the lock
    shared = [
        *await make_dead_letters(conn, 1, queueing_lock="shared"),
        *await make_dead_letters(conn, 1, queueing_lock="shared"),
    ]
    free = await make_dead_letters(conn, 1)
    response = await client.post("/dead-letters/retry", json={"scope": "all"})
    assert response.json() == {"matched": 4, "retried": 2, "skipped": 2, "dry_run": False}
    statuses = await _statuses(conn, [held, *shared, *free])
    assert statuses == {held: "failed", shared[0]: "failed", shared[1]: "todo", free[0]: "todo"}

    single = await client.post(f"/jobs/{held}/retry")
    assert single.status_code == 409
    assert single.json()["error"] == "already_enqueued"
    assert "held" in single.json()["message"]


async def test_retried_dead_letters_run_again(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    ids = await make_dead_letters(conn, 3, task="agents.run")
    await client.post("/dead-letters/retry", json={"scope": "matching", "task": "agents.run"})
    await run_worker_until_idle(settings, queues=["agents"])
    assert set((await _statuses(conn, ids)).values()) == {"succeeded"}
    assert (await client.get("/dead-letters")).json()["items"] == []


async def _listen(database_url: str, channels: Sequence[str]) -> Conn:
    listener = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    for channel in channels:
        await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return listener


async def test_10000_dead_letters_are_retried_in_one_statement(
    database_url: str, conn: Conn
) -> None:
    tools = await make_dead_letters(conn, 6000)
    urgent = await make_dead_letters(conn, 4000, queue="urgent")
    channels = [
        "procrastinate_any_queue_v1",
        "procrastinate_queue_v1#tools",
        "procrastinate_queue_v1#urgent",
    ]
    async with (
        await _listen(database_url, channels) as listener,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as app_conn,
    ):
        with wire_log(app_conn) as wire:  # how fast: bench/bulk.py
            outcome = await dead_letters.retry_dead_letters(
                app_conn, DeadLetterFilter(task="tools.run"), scope="matching"
            )
        notified = [
            notify.channel
            async for notify in listener.notifies(timeout=DEFAULT_TIMEOUT, stop_after=4)
        ]
        # and no more: a wake-up per job would have queued thousands by now
        late = [notify.channel async for notify in listener.notifies(timeout=0.5)]

    assert (wire.round_trips, wire.queries) == (1, ["dead_letter_retry"])
    assert outcome == dead_letters.RetryOutcome(
        matched=10_000, retried=10_000, skipped=0, dry_run=False
    )
    assert set((await _statuses(conn, tools + urgent)).values()) == {"todo"}
    cursor = await conn.execute("SELECT count(*) FROM procrastinate_events WHERE type = 'retried'")
    assert await cursor.fetchone() == (10_000,)
    # one wake-up per queue, not one per job
    assert sorted(notified) == sorted([channels[0], channels[0], channels[1], channels[2]])
    assert late == []
