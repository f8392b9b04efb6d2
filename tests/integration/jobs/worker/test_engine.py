"""The worker engine with a real procrastinate worker: claims bounded by free slots, batched
and durable completions, claims put back at stop, round trips per job, idle cost."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import pq
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from db import worker_store
from db.worker_store import AttemptOutcome
from jobs.control.enqueue import enqueue
from jobs.maintenance.tasks import MAINTENANCE_QUEUE
from jobs.settings import Settings
from jobs.tasks.context import TaskContext
from jobs.tasks.registry import TaskRegistry, registry
from jobs.worker.app import build_app
from jobs.worker.completer import Completer
from jobs.worker.process import PgjobsApp
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]


class Nothing(BaseModel):
    pass


class Hold(BaseModel):
    key: int


engine_tasks = TaskRegistry()
#: Released by the test: what the held jobs wait for.
held = asyncio.Event()


@engine_tasks.task(name="engine.noop", args=Nothing)
async def noop(ctx: TaskContext, args: Nothing) -> None:
    return None


@engine_tasks.task(name="engine.hold", args=Hold)
async def hold(ctx: TaskContext, args: Hold) -> int:
    await held.wait()
    return args.key


async def count_status(conn: Conn, status: str) -> int:
    cursor = await conn.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE status = %s AND task_name LIKE 'engine.%%'",
        [status],
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_a_worker_never_claims_more_jobs_than_its_free_slots(
    conn: Conn, settings: Settings
) -> None:
    held.clear()
    for key in range(8):
        await enqueue(conn, "engine.hold", {"key": key}, tasks=engine_tasks)
    seen_doing: list[int] = []

    async def two_done() -> bool:
        doing = await count_status(conn, "doing")
        seen_doing.append(doing)
        if doing == 3 and len(seen_doing) > 5:
            held.set()  # three ran together for a while: let them all go
        return await count_status(conn, "succeeded") == 8

    await run_worker_until(settings, two_done, tasks=engine_tasks, concurrency=3)
    assert max(seen_doing) == 3
    cursor = await conn.execute("SELECT count(*) FROM pgjobs_attempts WHERE outcome = 'succeeded'")
    assert await cursor.fetchone() == (8,)


async def test_completions_share_one_statement_and_are_durable_when_they_return(
    conn: Conn, database_url: str, settings: Settings
) -> None:
    cursor = await conn.execute("SELECT procrastinate_register_worker_v1()")
    row = await cursor.fetchone()
    assert row is not None
    worker = int(row[0])
    for _ in range(50):
        await enqueue(conn, "engine.noop", {}, tasks=engine_tasks)
    claimed = await worker_store.job_claim(conn, queues=None, worker_id=worker, max_jobs=50)
    statements = 0

    async def write(outcomes: Any) -> list[worker_store.CompletedJob]:
        nonlocal statements
        statements += 1
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as own:
            return await worker_store.job_complete(own, worker_id=worker, outcomes=outcomes)

    completer = Completer(write, interval=0.05, max_batch=100)
    started = datetime.datetime.now(datetime.UTC)

    async def finish(job_id: int) -> None:
        completed = await completer.complete(
            AttemptOutcome(
                job_id=job_id, attempt=1, status="succeeded", outcome="succeeded",
                started_at=started,
            )
        )  # fmt: skip
        assert completed is not None
        # returned: committed, visible to any other session
        check = await conn.execute(
            "SELECT status::text FROM procrastinate_jobs WHERE id = %s", [job_id]
        )
        assert await check.fetchone() == ("succeeded",)

    await asyncio.gather(*(finish(job.id) for job in claimed))
    assert statements == 1
    assert (completer.flushes, completer.outcomes) == (1, 50)


async def test_a_failed_flush_fails_its_outcomes_and_writes_nothing(conn: Conn) -> None:
    async def write(outcomes: Any) -> list[worker_store.CompletedJob]:
        raise psycopg.OperationalError("connection lost")

    completer = Completer(write, interval=0, max_batch=10)
    attempt = AttemptOutcome(job_id=1, attempt=1, status="succeeded")
    with pytest.raises(psycopg.OperationalError):
        await completer.complete(attempt)


async def test_claims_never_handed_out_go_back_to_their_queue_at_stop(
    conn: Conn, settings: Settings
) -> None:
    for _ in range(3):
        await enqueue(conn, "engine.noop", {}, tasks=engine_tasks)
    app = build_app(settings, tasks=engine_tasks)
    assert isinstance(app, PgjobsApp)
    async with app.open_async():
        worker = app._worker(concurrency=3, install_signal_handlers=False)
        worker.worker_id = await app.job_manager.register_worker()
        await worker._job_semaphore.acquire()  # what the worker loop does before each fetch
        first = await app.job_manager.fetch_job(queues=None, worker_id=worker.worker_id)
        assert first is not None
        assert await count_status(conn, "doing") == 3  # one claim for the three free slots

        await app.job_manager.unregister_worker(worker.worker_id)

    assert await count_status(conn, "doing") == 1  # the one handed out (the worker runs it)
    assert await count_status(conn, "todo") == 2


# -- round trips, read off libpq's protocol trace of every connection the worker opens ---------


class TracedConnections:
    """Trace every connection a pool opens; count round trips (one ReadyForQuery each).

    libpq buffers its trace: counting stops and restarts each trace, which flushes it.
    """

    def __init__(self) -> None:
        self._traces: list[tuple[psycopg.AsyncConnection[Any], Any]] = []

    async def configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.set_autocommit(True)
        trace = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._traces.append((conn, trace))
        self._start(conn, trace)

    @staticmethod
    def _start(conn: psycopg.AsyncConnection[Any], trace: Any) -> None:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def round_trips(self) -> int:
        total = 0
        for conn, trace in self._traces:
            assert not conn.closed, "a traced connection was closed: its trace is incomplete"
            conn.pgconn.untrace()
            trace.seek(0)
            lines = trace.read().decode(errors="replace").splitlines()
            total += sum(
                1 for line in lines if line.startswith("B\t") and "\tReadyForQuery\t" in line
            )
            self._start(conn, trace)
        return total

    def close(self) -> None:
        for _, trace in self._traces:
            trace.close()


@pytest.fixture
def traced() -> Iterator[TracedConnections]:
    connections = TracedConnections()
    yield connections
    connections.close()


@contextlib.asynccontextmanager
async def traced_app(
    settings: Settings, traced: TracedConnections, tasks: TaskRegistry = engine_tasks
) -> AsyncIterator[PgjobsApp]:
    app = build_app(settings, tasks=tasks)
    assert isinstance(app, PgjobsApp)
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        settings.require_database_url(), min_size=1, max_size=4, configure=traced.configure,
        open=False,
    )  # fmt: skip
    async with pool, app.open_async(pool):
        yield app


async def test_draining_costs_at_most_half_a_round_trip_per_job(
    conn: Conn, settings: Settings, traced: TracedConnections
) -> None:
    jobs = 200
    for _ in range(jobs):
        await enqueue(conn, "engine.noop", {}, tasks=engine_tasks)
    async with traced_app(settings, traced) as app:
        await app.run_worker_async(
            wait=False, install_signal_handlers=False, listen_notify=False, concurrency=10
        )
        round_trips = traced.round_trips()
    assert await count_status(conn, "succeeded") == jobs
    # claims and completions of ~10 jobs each, plus the worker's start and stop
    assert round_trips <= jobs * 0.5, round_trips


async def test_an_idle_worker_makes_at_most_one_round_trip_per_second(
    settings: Settings, traced: TracedConnections, conn: Conn
) -> None:
    """Polls (every 5 s, LISTEN wakes it sooner), heartbeats (10 s) and the stalled-job rescue
    (every 10 s: defer, claim, one read, complete) with the default settings. Retention runs
    every 10 minutes (and once at start): left out of the window, it is not idle polling."""
    settings = settings.model_copy(update={"retention_enabled": False})
    # The worker's own tasks: pgjobs' maintenance only (demo tasks' crons are not idle work).
    maintenance_only = TaskRegistry()
    maintenance_only._specs = {s.name: s for s in registry if s.queue == MAINTENANCE_QUEUE}
    window = 20.0  # two rescue runs
    async with traced_app(settings, traced, tasks=maintenance_only) as app:
        worker = asyncio.create_task(app.run_worker_async(install_signal_handlers=False))

        async def settled() -> bool:
            # start-up work done: the rescue's first run (deferred at start) has finished
            cursor = await conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('todo', 'doing')),"
                "       count(*) FILTER (WHERE status = 'succeeded') FROM procrastinate_jobs"
            )
            row = await cursor.fetchone()
            return row is not None and row[0] == 0 and row[1] > 0

        deadline = time.monotonic() + 30
        while not await settled():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        before = traced.round_trips()
        started = time.monotonic()
        await asyncio.sleep(window)  # pacing: the window measured
        during = traced.round_trips() - before
        elapsed = time.monotonic() - started
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert during <= elapsed, f"{during} round trips in {elapsed:.1f} s"
