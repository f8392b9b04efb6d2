"""The engine's statements against a real Postgres: what a batched claim takes, what a
batched completion writes, and what it leaves alone."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
import pytest

from db import worker_store
from db.worker_store import AttemptOutcome
from tests.factories import make_job

Conn = psycopg.AsyncConnection[Any]


async def register_worker(conn: Conn) -> int:
    cursor = await conn.execute("SELECT procrastinate_register_worker_v1()")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def statuses(conn: Conn, *job_ids: int) -> list[str]:
    cursor = await conn.execute(
        "SELECT status::text FROM procrastinate_jobs WHERE id = ANY(%s) ORDER BY id",
        [list(job_ids)],
    )
    return [row[0] for row in await cursor.fetchall()]


async def events(conn: Conn, job_id: int) -> list[str]:
    cursor = await conn.execute(
        "SELECT type::text FROM procrastinate_events WHERE job_id = %s ORDER BY id", [job_id]
    )
    return [row[0] for row in await cursor.fetchall()]


async def test_claim_takes_up_to_max_jobs_by_priority_then_id_and_marks_them_started(
    conn: Conn,
) -> None:
    worker = await register_worker(conn)
    low = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(3)]
    high = await make_job(conn, "tools.run", {"tool": "urgent"}, priority=10)

    claimed = await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=3)

    assert [job.id for job in claimed] == [high.id, low[0].id, low[1].id]
    assert {job.status for job in claimed} == {"doing"}
    assert {job.worker_id for job in claimed} == {worker}
    assert await statuses(conn, *(job.id for job in low)) == ["doing", "doing", "todo"]
    assert await events(conn, high.id) == ["deferred", "started"]


async def test_claim_honours_queues_schedules_and_locks(conn: Conn) -> None:
    worker = await register_worker(conn)
    other_queue = await make_job(conn, "llm.generate", {"prompt": "p"})  # queue llm
    later = await make_job(
        conn,
        "tools.run",
        {"tool": "later"},
        schedule_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    first_of_lock = await make_job(conn, "tools.run", {"tool": "a"}, lock="L")
    second_of_lock = await make_job(conn, "tools.run", {"tool": "b"}, lock="L")
    free = await make_job(conn, "tools.run", {"tool": "c"})

    claimed = await worker_store.job_claim(conn, queues=["tools"], worker_id=worker, max_jobs=10)

    # one job per lock, none of another queue, none not yet due
    assert [job.id for job in claimed] == [first_of_lock.id, free.id]
    assert await statuses(conn, other_queue.id, later.id, second_of_lock.id) == ["todo"] * 3
    # the lock's next job waits while the first runs, then is claimable
    assert await worker_store.job_claim(conn, queues=["tools"], worker_id=worker, max_jobs=10) == []
    await worker_store.job_complete(conn, worker_id=worker, outcomes=[outcome(first_of_lock.id)])
    claimed = await worker_store.job_claim(conn, queues=["tools"], worker_id=worker, max_jobs=10)
    assert [job.id for job in claimed] == [second_of_lock.id]


async def test_claim_returns_each_jobs_own_time_limits(conn: Conn) -> None:
    worker = await register_worker(conn)
    limited = await make_job(
        conn, "llm.generate", {"prompt": "p"}, time_limit=30, soft_time_limit=20
    )
    plain = await make_job(conn, "llm.generate", {"prompt": "q"})

    claimed = await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=5)

    limits = {job.id: (job.time_limit_seconds, job.soft_time_limit_seconds) for job in claimed}
    assert limits == {limited.id: (30, 20), plain.id: (None, None)}


async def test_concurrent_claims_never_share_a_job(database_url: str, conn: Conn) -> None:
    worker = await register_worker(conn)
    jobs = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(20)]
    async with (
        await psycopg.AsyncConnection.connect(database_url) as first,
        await psycopg.AsyncConnection.connect(database_url) as second,
    ):
        # the first claim holds its row locks (open transaction) while the second runs
        taken_first = await worker_store.job_claim(first, queues=None, worker_id=worker, max_jobs=8)
        taken_second = await worker_store.job_claim(
            second, queues=None, worker_id=worker, max_jobs=20
        )
        await first.commit()
        await second.commit()
    first_ids = {job.id for job in taken_first}
    second_ids = {job.id for job in taken_second}
    assert len(first_ids) == 8
    assert len(second_ids) == 12
    assert first_ids.isdisjoint(second_ids)
    assert first_ids | second_ids == {job.id for job in jobs}


def outcome(job_id: int, **fields: Any) -> AttemptOutcome:
    defaults: dict[str, Any] = {
        "attempt": 1,
        "status": "succeeded",
        "outcome": "succeeded",
        "started_at": datetime.datetime.now(datetime.UTC),
    }
    return AttemptOutcome(job_id=job_id, **{**defaults, **fields})


async def test_complete_writes_status_attempt_and_result_of_many_jobs_in_one_statement(
    conn: Conn,
) -> None:
    worker = await register_worker(conn)
    jobs = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(3)]
    await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=3)
    error = {"error_type": "ValueError", "error_message": "bad", "error_traceback": "tb"}

    completed = await worker_store.job_complete(
        conn,
        worker_id=worker,
        outcomes=[
            outcome(jobs[0].id, result={"n": 1}),
            outcome(jobs[1].id, status="failed", outcome="failed", **error),
            outcome(jobs[2].id, status="todo", outcome="failed", priority=5, queue="q2", **error),
        ],
    )

    assert sorted((c.job_id, c.status) for c in completed) == [
        (jobs[0].id, "succeeded"),
        (jobs[1].id, "failed"),
        (jobs[2].id, "todo"),
    ]
    cursor = await conn.execute(
        "SELECT job.id, job.attempts, job.priority, job.queue_name, record.result, "
        "       record.error_type, record.progress_percent, attempt.outcome "
        "  FROM procrastinate_jobs job JOIN pgjobs_jobs record ON record.job_id = job.id "
        "  JOIN pgjobs_attempts attempt ON attempt.job_id = job.id "
        " WHERE job.id = ANY(%s) ORDER BY job.id",
        [[job.id for job in jobs]],
    )
    assert await cursor.fetchall() == [
        (jobs[0].id, 1, 0, "tools", {"n": 1}, None, 100.0, "succeeded"),
        (jobs[1].id, 1, 0, "tools", None, "ValueError", None, "failed"),
        (jobs[2].id, 1, 5, "q2", None, "ValueError", None, "failed"),
    ]
    # procrastinate's own retry_job also schedules the retry (now, here)
    assert await events(conn, jobs[2].id) == [
        "deferred",
        "started",
        "scheduled",
        "deferred_for_retry",
    ]


async def test_a_retry_of_a_job_whose_abort_was_requested_fails_it(conn: Conn) -> None:
    worker = await register_worker(conn)
    job = await make_job(conn, "tools.run", {"tool": "t"})
    await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=1)
    await conn.execute("SELECT procrastinate_cancel_job_v1(%s, true, false)", [job.id])

    (completed,) = await worker_store.job_complete(
        conn, worker_id=worker, outcomes=[outcome(job.id, status="todo", outcome="failed")]
    )

    assert completed.status == "failed"  # as procrastinate_retry_job_v2 decides


async def test_an_outcome_of_a_rescued_attempt_is_left_alone(conn: Conn) -> None:
    """The rescue declared the attempt lost and retried the job: a late outcome changes nothing."""
    worker = await register_worker(conn)
    rescued = await make_job(conn, "tools.run", {"tool": "t"})
    running_elsewhere = await make_job(conn, "tools.run", {"tool": "u"})
    await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=2)
    await conn.execute(
        "SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [rescued.id]
    )
    other = await register_worker(conn)
    await conn.execute(
        "UPDATE procrastinate_jobs SET worker_id = %s WHERE id = %s", [other, running_elsewhere.id]
    )

    completed = await worker_store.job_complete(
        conn, worker_id=worker, outcomes=[outcome(rescued.id), outcome(running_elsewhere.id)]
    )

    assert completed == []
    assert await statuses(conn, rescued.id, running_elsewhere.id) == ["todo", "doing"]
    cursor = await conn.execute("SELECT count(*) FROM pgjobs_attempts")
    assert await cursor.fetchone() == (0,)


@pytest.mark.parametrize("outcome_known", [True, False])
async def test_delete_job_finishes_by_deleting(conn: Conn, outcome_known: bool) -> None:
    worker = await register_worker(conn)
    job = await make_job(conn, "tools.run", {"tool": "t"})
    await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=1)
    fields = {} if outcome_known else {"outcome": None, "started_at": None}

    (completed,) = await worker_store.job_complete(
        conn, worker_id=worker, outcomes=[outcome(job.id, delete_job=True, **fields)]
    )

    assert (completed.job_id, completed.status) == (job.id, "succeeded")
    assert await statuses(conn, job.id) == []


async def test_release_puts_unstarted_claims_back_and_wakes_workers(conn: Conn) -> None:
    worker = await register_worker(conn)
    job = await make_job(conn, "tools.run", {"tool": "t"})
    await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=1)
    await conn.execute("LISTEN procrastinate_any_queue_v1")

    await worker_store.job_release(conn, worker_id=worker, job_ids=[job.id])

    assert await statuses(conn, job.id) == ["todo"]
    cursor = await conn.execute("SELECT attempts FROM procrastinate_jobs WHERE id = %s", [job.id])
    assert await cursor.fetchone() == (0,)
    notices = [notify async for notify in conn.notifies(timeout=1, stop_after=1)]
    assert [n.payload for n in notices] == [f'{{"type" : "job_inserted", "job_id" : {job.id}}}']
