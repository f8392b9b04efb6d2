"""Results over PGJOBS_MAX_RESULT_BYTES fail the attempt (never retried); long error texts
are stored cut with a note. A real in-process worker on a real Postgres."""

from __future__ import annotations

from typing import Any

import psycopg
from pydantic import BaseModel

from jobs.control.enqueue import enqueue
from jobs.settings import Settings
from jobs.tasks.context import TaskContext
from jobs.tasks.registry import TaskRegistry
from jobs.tasks.retry import RetryPolicy
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]
sizes = TaskRegistry()
RETRIED = RetryPolicy(max_attempts=3, initial_delay=0)


class Size(BaseModel):
    kilobytes: int


@sizes.task(name="sizes.result", args=Size, retry=RETRIED)
async def big_result(ctx: TaskContext, args: Size) -> dict[str, str]:
    return {"blob": "x" * (args.kilobytes * 1024)}


@sizes.task(name="sizes.error", args=Size, retry=RetryPolicy(max_attempts=1))
async def big_error(ctx: TaskContext, args: Size) -> None:
    raise ValueError("start-" + "y" * (args.kilobytes * 1024) + "-end")


def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_result_bytes": 10_000, "max_error_bytes": 2048})


async def finished(conn: Conn, job_id: int) -> dict[str, Any]:
    cursor = await conn.execute(
        "SELECT j.status::text, j.attempts, r.result, r.error_type, r.error_message, "
        "r.error_traceback FROM procrastinate_jobs j JOIN pgjobs_jobs r ON r.job_id = j.id "
        "WHERE j.id = %s",
        [job_id],
    )
    row = await cursor.fetchone()
    assert row is not None
    keys = ["status", "attempts", "result", "error_type", "error_message", "error_traceback"]
    return dict(zip(keys, row, strict=True))


async def run(settings: Settings, conn: Conn, job_ids: list[int]) -> None:
    async def done() -> bool:
        cursor = await conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE id = ANY(%s) "
            "AND status IN ('succeeded', 'failed')",
            [job_ids],
        )
        row = await cursor.fetchone()
        return row is not None and row[0] == len(job_ids)

    await run_worker_until(limited(settings), done, tasks=sizes)


async def test_an_oversized_result_fails_the_job_once_with_a_clear_error(
    conn: Conn, settings: Settings
) -> None:
    small = await enqueue(conn, "sizes.result", {"kilobytes": 5}, tasks=sizes)
    large = await enqueue(conn, "sizes.result", {"kilobytes": 20}, tasks=sizes)
    await run(settings, conn, [small.id, large.id])

    ok = await finished(conn, small.id)
    assert ok["status"] == "succeeded"
    assert len(ok["result"]["blob"]) == 5 * 1024

    refused = await finished(conn, large.id)
    # not retried although the task's policy retries every exception: it would do it again
    assert (refused["status"], refused["attempts"]) == ("failed", 1)
    assert refused["result"] is None
    assert refused["error_type"] == "jobs.errors.ResultTooLarge"
    assert "over PGJOBS_MAX_RESULT_BYTES (10000)" in refused["error_message"]
    assert "return their location" in refused["error_message"]
    cursor = await conn.execute("SELECT outcome FROM pgjobs_attempts WHERE job_id = %s", [large.id])
    assert await cursor.fetchall() == [("failed",)]


async def test_long_error_texts_are_stored_cut_with_a_note(conn: Conn, settings: Settings) -> None:
    job = await enqueue(conn, "sizes.error", {"kilobytes": 64}, tasks=sizes)
    await run(settings, conn, [job.id])
    failed = await finished(conn, job.id)
    assert failed["status"] == "failed"
    assert failed["error_type"] == "ValueError"
    message, trace = failed["error_message"], failed["error_traceback"]
    # the message keeps its start, the traceback its end (the failing frame), each noted
    assert message.startswith("start-yyy")
    assert message.endswith("over PGJOBS_MAX_ERROR_BYTES (2048)]")
    assert len(message.encode()) < 2048 + 200
    assert trace.startswith("[pgjobs: ")
    assert trace.rstrip().endswith("-end")
    assert len(trace.encode()) < 2048 + 200
