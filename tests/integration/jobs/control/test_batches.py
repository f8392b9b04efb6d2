"""POST /batches, GET /batches/{id}: all-or-nothing creation in one round trip, group progress."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from api.app import create_app
from jobs.control import batches
from jobs.control.batches import BatchCreate
from jobs.control.enqueue import JobCreate
from jobs.settings import Settings
from tests.factories import make_job
from tests.integration.helpers import count, run_worker_until_idle
from tests.integration.round_trips import wire_log

Conn = psycopg.AsyncConnection[Any]
MAX = batches.MAX_BATCH_SIZE


def agent(number: int, **extra: Any) -> dict[str, Any]:
    """One item of a batch of agent tasks (the showcase workload)."""
    args = {"agent": f"agent-{number}", "objective": f"triage ticket #{number}", "steps": 2}
    return {"task": "agents.run", "args": args, **extra}


async def _scalar(conn: Conn, sql: str, *params: Any) -> Any:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def _finish(conn: Conn, job_id: int, status: str) -> None:
    """Move a queued job to a final status through procrastinate's own function, as a worker."""
    await conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", [job_id])
    await conn.execute("SELECT procrastinate_finish_job_v1(%s, %s, false)", [job_id, status])


async def test_create_a_batch_then_follow_it(client: httpx.AsyncClient, conn: Conn) -> None:
    response = await client.post("/batches", json={"jobs": [agent(n) for n in range(3)]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/batches/{created['id']}"
    assert created["size"] == 3
    assert created["job_ids"] == sorted(created["job_ids"])
    for job_id, number in zip(created["job_ids"], range(3), strict=True):
        job = (await client.get(f"/jobs/{job_id}")).json()
        assert job["args"]["agent"] == f"agent-{number}"  # ids in the order of the items
        assert job["batch_id"] == created["id"]
        assert job["queue"] == "agents"

    batch = (await client.get(f"/batches/{created['id']}")).json()
    assert batch["size"] == 3
    assert batch["created_by"] == "api"
    assert batch["counts"] == {
        "todo": 3,
        "doing": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
        "aborted": 0,
        "deleted": 0,
    }
    assert batch["progress_percent"] == 0
    assert (batch["finished"], batch["failed"], batch["status"]) == (False, False, "running")


async def test_progress_is_the_mean_of_the_jobs_finished_ones_counting_100(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    created = (await client.post("/batches", json={"jobs": [agent(n) for n in range(4)]})).json()
    first, second, third, fourth = created["job_ids"]
    await conn.execute("UPDATE pgjobs_jobs SET progress_percent = 50 WHERE job_id = %s", [first])
    await _finish(conn, second, "succeeded")
    await conn.execute("UPDATE pgjobs_jobs SET progress_percent = 30 WHERE job_id = %s", [third])
    await _finish(conn, third, "failed")  # finished: counts 100 whatever its percent

    batch = (await client.get(f"/batches/{created['id']}")).json()
    assert batch["progress_percent"] == (50 + 100 + 100 + 0) / 4
    assert batch["counts"]["todo"] == 2
    assert (batch["finished"], batch["failed"], batch["status"]) == (False, True, "running")

    await _finish(conn, first, "succeeded")
    await _finish(conn, fourth, "succeeded")
    batch = (await client.get(f"/batches/{created['id']}")).json()
    assert batch["progress_percent"] == 100
    assert (batch["finished"], batch["failed"], batch["status"]) == (True, True, "failed")


async def test_a_batch_of_agents_runs_to_completion(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = (await client.post("/batches", json={"jobs": [agent(n) for n in range(5)]})).json()
    await run_worker_until_idle(settings, queues=["agents"])
    batch = (await client.get(f"/batches/{created['id']}")).json()
    assert batch["counts"]["succeeded"] == 5
    assert batch["progress_percent"] == 100
    assert (batch["finished"], batch["failed"], batch["status"]) == (True, False, "succeeded")


async def test_cancelled_and_deleted_jobs(client: httpx.AsyncClient, conn: Conn) -> None:
    created = (await client.post("/batches", json={"jobs": [agent(n) for n in range(3)]})).json()
    first, second, third = created["job_ids"]
    await client.post(f"/jobs/{first}/cancel")
    await _finish(conn, second, "succeeded")
    await conn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [second])  # retention
    await conn.execute("UPDATE pgjobs_jobs SET progress_percent = 40 WHERE job_id = %s", [third])

    batch = (await client.get(f"/batches/{created['id']}")).json()
    assert (batch["counts"]["cancelled"], batch["counts"]["deleted"]) == (1, 1)
    assert batch["progress_percent"] == (100 + 100 + 40) / 3
    await _finish(conn, third, "succeeded")
    batch = (await client.get(f"/batches/{created['id']}")).json()
    assert (batch["finished"], batch["failed"], batch["status"]) == (True, False, "cancelled")


async def test_bad_jobs_are_named_by_index_and_nothing_is_created(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    items = [agent(n) for n in range(20)]
    items[3] = {"task": "no.such.task", "args": {}}
    items[11] = agent(11, priority=5000)
    items[17] = {"task": "llm.generate", "args": {"prompt": ""}}
    response = await client.post("/batches", json={"jobs": items})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_batch"
    assert "3 of 20 jobs are invalid" in body["message"]
    assert [item["loc"] for item in body["detail"]] == [
        ["body", "jobs", 3, "task"],
        ["body", "jobs", 11, "priority"],
        ["body", "jobs", 17, "args", "prompt"],
    ]
    assert "agents.run" in body["detail"][0]["valid"]
    assert await count(conn, "procrastinate_jobs") == 0
    assert await _scalar(conn, "SELECT count(*) FROM pgjobs_batches") == 0


async def test_malformed_items_are_located_by_index_too(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/batches", json={"jobs": [agent(0), {"args": {}}, agent(2, colour="red")]}
    )
    assert response.status_code == 422
    locations = [item["loc"] for item in response.json()["detail"]]
    assert locations == [["body", "jobs", 1, "task"], ["body", "jobs", 2, "colour"]]


async def test_batch_size_is_1_to_10000(client: httpx.AsyncClient, conn: Conn) -> None:
    tiny = {"task": "tools.run", "args": {"tool": "t"}}
    too_many = await client.post("/batches", json={"jobs": [tiny] * (MAX + 1)})
    assert too_many.status_code == 422
    assert too_many.json()["detail"] == [
        {
            "loc": ["body", "jobs"],
            "msg": "List should have at most 10000 items after validation, not 10001",
            "type": "too_long",
        }
    ]
    empty = await client.post("/batches", json={"jobs": []})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "jobs"]
    assert await count(conn, "procrastinate_jobs") == 0


async def test_identical_locks_within_a_batch_are_refused_by_index(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    items = [agent(0, unique=True), agent(1), agent(0, unique=True), agent(2, queueing_lock="q")]
    items.append(agent(3, queueing_lock="q"))
    response = await client.post("/batches", json={"jobs": items})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [item["loc"] for item in detail] == [
        ["body", "jobs", 2, "unique"],
        ["body", "jobs", 4, "queueing_lock"],
    ]
    assert "job 0 of this batch" in detail[0]["msg"]
    assert await count(conn, "procrastinate_jobs") == 0


async def test_a_lock_held_by_a_queued_job_refuses_the_whole_batch(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    await make_job(conn, queueing_lock="nightly")
    response = await client.post(
        "/batches", json={"jobs": [agent(0), agent(1, queueing_lock="nightly")]}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "already_enqueued"
    assert "nightly" in response.json()["message"]
    assert await count(conn, "procrastinate_jobs") == 1
    assert await _scalar(conn, "SELECT count(*) FROM pgjobs_batches") == 0


async def test_unknown_batch_is_404(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/batches/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "batch_not_found"
    assert (await client.get("/batches/not-a-uuid")).status_code == 422


async def test_batches_have_their_own_body_limit(settings: Settings, conn: Conn) -> None:
    limited = settings.model_copy(update={"max_body_bytes": 1000, "max_batch_body_bytes": 5000})
    application = create_app(limited)
    items = [agent(n) for n in range(20)]  # about 2,300 bytes
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.post("/batches", json={"jobs": items})).status_code == 201
            too_big = await http.post("/batches", json={"jobs": items * 3})
            assert too_big.status_code == 413
            assert "5000 bytes" in too_big.json()["message"]
            one_job = await http.post("/jobs", json=agent(0, lock="x" * 1000))
            assert one_job.status_code == 413  # /jobs keeps the general limit
    assert await count(conn, "procrastinate_jobs") == 20


async def test_10000_jobs_are_one_statement_one_round_trip(database_url: str, conn: Conn) -> None:
    requests = [JobCreate(task="agents.run", args=agent(n)["args"]) for n in range(MAX)]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as app_conn:
        with wire_log(app_conn) as wire:  # how fast: bench/batch_create.py
            created = await batches.create_batch(
                app_conn, BatchCreate(jobs=requests), created_by="test"
            )
    assert isinstance(created, batches.CreatedBatch)
    assert (wire.round_trips, wire.queries) == (1, ["job_defer_many"])
    assert len(created.job_ids) == MAX
    assert await count(conn, "procrastinate_jobs") == MAX
    assert (
        await _scalar(conn, "SELECT count(*) FROM pgjobs_jobs WHERE batch_id = %s", created.id)
        == MAX
    )
    assert await _scalar(conn, "SELECT size FROM pgjobs_batches") == MAX


async def test_10000_jobs_over_http(client: httpx.AsyncClient) -> None:
    """10,000 agent tasks (about 1.2 MB, over the 1 MiB of one job) in one request."""
    items = [agent(n) for n in range(MAX)]
    response = await client.post("/batches", json={"jobs": items})
    assert response.status_code == 201, response.text[:500]
    assert len(response.json()["job_ids"]) == MAX
    batch = (await client.get(f"/batches/{response.json()['id']}")).json()
    assert batch["counts"]["todo"] == MAX


async def test_a_batch_commits_with_the_callers_transaction(database_url: str, conn: Conn) -> None:
    requests = [JobCreate(task="tools.run", args={"tool": "t"})] * 3
    async with (
        await psycopg.AsyncConnection.connect(database_url) as app_conn,
        app_conn.transaction(force_rollback=True),  # as when the application's own write fails
    ):
        await batches.create_batch(app_conn, BatchCreate(jobs=requests), created_by="app")
        assert await count(app_conn, "procrastinate_jobs") == 3  # inside the transaction
    assert await count(conn, "procrastinate_jobs") == 0
    assert await _scalar(conn, "SELECT count(*) FROM pgjobs_batches") == 0
