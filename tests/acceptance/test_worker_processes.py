"""``pgjobs worker --processes N`` and recycling, with real processes on a real Postgres.

Workers are ``pgjobs worker`` itself (its CLI, supervisor and settings) over the
test app of :mod:`harness.heavy_app`, whose ``heavy.leak`` task keeps
memory forever on purpose.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import psycopg
import pytest

from harness.conditions import wait_for
from harness.heavy_app import QUEUE, heavy
from harness.processes import ROOT, alive, children
from harness.stack import Stack
from jobs.control.enqueue import enqueue

#: Short liveness intervals so heartbeats (which carry each process' figures) come every second.
FAST = {
    "PGJOBS_WORKER_HEARTBEAT_SECONDS": "1",
    "PGJOBS_WORKER_STALLED_AFTER_SECONDS": "4",
    "PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS": "1",
    "PGJOBS_EXTRA_QUEUES": QUEUE,  # the test app's queue is not one of jobs.app's
}
T = TypeVar("T")


class Workers:
    """One ``pgjobs worker`` supervisor over the heavy test app."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.log = stack.log_dir / "pgjobs-worker.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *flags: str, **env: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.heavy_worker", *flags],
                cwd=ROOT,
                env=self.stack.env(**{**FAST, **env}),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def children(self) -> list[int]:
        assert self.process is not None
        return [pid for pid in children(self.process.pid) if alive(pid)]

    def stop(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process is None:
            return
        leftovers = self.children()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in leftovers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def workers(stack: Stack) -> Iterator[Workers]:
    running = Workers(stack)
    try:
        yield running
    finally:
        running.close()


def sql(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


async def create(url: str, task: str, args: dict[str, Any], count: int = 1) -> list[int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return [(await enqueue(conn, task, args, tasks=heavy)).id for _ in range(count)]


def registered_as(url: str, *names: str) -> dict[str, tuple[int, int]] | None:
    """The registered live workers once they are exactly ``names``."""
    found = registered(url)
    return found if sorted(found) == sorted(names) else None


def registered(url: str) -> dict[str, tuple[int, int]]:
    """name -> (worker id, pid) of the registered workers whose process is alive."""
    rows = sql(url, "SELECT name, worker_id, pid FROM pgjobs_workers")
    return {name: (worker_id, pid) for name, worker_id, pid in rows if alive(pid)}


def runs(url: str, job_ids: list[int]) -> dict[int, list[tuple[str, int | None]]]:
    """job id -> [(outcome, pid from the result)] of every recorded attempt."""
    rows = sql(
        url,
        "SELECT a.job_id, a.outcome, (j.result->>'pid')::int FROM pgjobs_attempts a "
        "JOIN pgjobs_jobs j USING (job_id) WHERE a.job_id = ANY(%s) ORDER BY a.attempt",
        job_ids,
    )
    found: dict[int, list[tuple[str, int | None]]] = {}
    for job_id, outcome, pid in rows:
        found.setdefault(job_id, []).append((outcome, pid))
    return found


def all_succeeded(url: str, job_ids: list[int]) -> bool:
    rows = sql(
        url,
        "SELECT count(*) FROM procrastinate_jobs WHERE id = ANY(%s) AND status = 'succeeded'",
        job_ids,
    )
    return bool(rows[0][0] == len(job_ids))


def assert_each_ran_once(url: str, job_ids: list[int]) -> dict[int, int]:
    """Every job succeeded in exactly one attempt; returns job id -> pid that ran it."""
    found = runs(url, job_ids)
    assert sorted(found) == sorted(job_ids)
    once = {job: attempts for job, attempts in found.items() if len(attempts) == 1}
    assert len(once) == len(job_ids), {j: a for j, a in found.items() if len(a) != 1}
    assert {attempts[0][0] for attempts in once.values()} == {"succeeded"}
    return {job: attempts[0][1] for job, attempts in once.items() if attempts[0][1] is not None}


def test_processes_are_named_restarted_on_their_own_and_all_drained_by_sigterm(
    stack: Stack, workers: Workers
) -> None:
    url = stack.database_url
    stack.start_api()
    workers.start("--processes", "2", "--name", "box", "--concurrency", "1", "--queues", QUEUE)
    names = wait_for(
        lambda: registered_as(url, "box#1", "box#2"),
        timeout=60,
        what="two named worker processes",
    )
    assert {pid for _, pid in names.values()} == set(workers.children())

    # each process is on the workers page and has its own series in /metrics
    with stack.client() as client:
        page = client.get("/dashboard/workers").text
        assert "box#1" in page
        assert "box#2" in page
        metrics = client.get("/metrics").text
    for name in ("box#1", "box#2"):
        assert (
            f'pgjobs_worker_heartbeat_age_seconds{{hostname="{os.uname().nodename}",worker="{name}"}}'
            in metrics
        )
        assert (
            f'pgjobs_worker_resident_memory_bytes{{hostname="{os.uname().nodename}",worker="{name}"}}'
            in metrics
        )

    # a process that dies is restarted alone, under the same name; the other keeps running
    _, killed_pid = names["box#1"]
    os.kill(killed_pid, signal.SIGKILL)
    restarted = wait_for(
        lambda: registered_as(url, "box#1", "box#2"),
        timeout=60,
        what="box#1 to be restarted",
    )
    assert restarted["box#2"] == names["box#2"]

    # SIGTERM drains both: each one's running job is requeued after the grace period
    long_jobs = asyncio_run(create(url, "heavy.leak", {"megabytes": 0, "seconds": 60}, count=2))
    wait_for(
        lambda: (
            sql(
                url,
                "SELECT count(*) FROM procrastinate_jobs WHERE id = ANY(%s) AND status = 'doing'",
                long_jobs,
            )[0][0]
            == 2
        ),
        what="both processes to run a long job",
    )
    pids = workers.children()
    assert workers.stop() == 0
    assert not any(alive(pid) for pid in pids)
    states = sql(
        url,
        "SELECT j.status, a.outcome, a.error_type FROM procrastinate_jobs j "
        "JOIN pgjobs_attempts a ON a.job_id = j.id WHERE j.id = ANY(%s)",
        long_jobs,
    )
    assert sorted(states) == [("todo", "aborted", "jobs.tasks.retry.WorkerShutdown")] * 2
    # the stopped ones unregistered; only the SIGKILLed one's row waits for the rescue's pruning
    assert sql(url, "SELECT pid FROM pgjobs_workers") == [(killed_pid,)]


def test_a_leaking_process_is_recycled_while_jobs_keep_flowing_and_none_runs_twice(
    stack: Stack, workers: Workers
) -> None:
    url = stack.database_url
    # the process' baseline is well under 300 MiB; each leak job keeps 25 MiB
    workers.start(
        "--processes", "1", "--concurrency", "2", "--queues", QUEUE,
        "--max-memory-per-process", "300MiB",
    )  # fmt: skip
    wait_for(lambda: registered(url), timeout=60, what="the worker to register")
    (first_pid,) = workers.children()
    # one long job holds a slot: the recycling process must finish it, not abort it
    (long_job,) = asyncio_run(create(url, "heavy.leak", {"megabytes": 0, "seconds": 10}))
    wait_for(
        lambda: (
            sql(url, "SELECT status FROM procrastinate_jobs WHERE id = %s", long_job)[0][0]
            == "doing"
        ),
        what="the long job to start",
    )
    leaks = asyncio_run(create(url, "heavy.leak", {"megabytes": 25, "seconds": 0.05}, count=30))
    wait_for(lambda: all_succeeded(url, [long_job, *leaks]), timeout=120, what="every job")

    ran_on = assert_each_ran_once(url, [long_job, *leaks])
    assert ran_on[long_job] == first_pid  # finished where it started, not aborted
    assert len(set(ran_on.values())) >= 3, ran_on  # recycled at least twice
    # jobs kept flowing: a replacement ran leak jobs while the first process still ran the
    # long one (its last attempt ended after the replacement's first one started)
    times = dict(
        sql(
            url,
            "SELECT (j.result->>'pid')::int, min(a.started_at) FROM pgjobs_attempts a "
            "JOIN pgjobs_jobs j USING (job_id) WHERE a.job_id = ANY(%s) GROUP BY 1",
            leaks,
        )
    )
    long_finished = sql(url, "SELECT finished_at FROM pgjobs_attempts WHERE job_id = %s", long_job)[
        0
    ][0]
    replacements = [started for pid, started in times.items() if pid != first_pid]
    assert min(replacements) < long_finished
    # no process outgrew its limit by more than the jobs it was running when it noticed
    leaked = sql(
        url,
        "SELECT max((result->>'leaked_mib')::int) FROM pgjobs_jobs WHERE job_id = ANY(%s)",
        leaks,
    )[0][0]
    assert leaked <= 300
    log = workers.log.read_text()
    assert "is recycling (max memory" in log, log
    assert "exited with status" not in log, log  # recycled exits are no failures: no backoff


def test_max_jobs_per_process_recycles_each_process(stack: Stack, workers: Workers) -> None:
    url = stack.database_url
    workers.start(
        "--processes", "2", "--concurrency", "2", "--queues", QUEUE,
        "--max-jobs-per-process", "5",
    )  # fmt: skip
    wait_for(lambda: len(registered(url)) == 2, timeout=60, what="two workers")
    jobs = asyncio_run(create(url, "heavy.leak", {"megabytes": 0, "seconds": 0.2}, count=40))
    wait_for(lambda: all_succeeded(url, jobs), timeout=180, what="every job")
    ran_on = assert_each_ran_once(url, jobs)
    per_process: dict[int, int] = {}
    for pid in ran_on.values():
        per_process[pid] = per_process.get(pid, 0) + 1
    # 5 jobs, plus at most the one still running beside the 5th (concurrency 2)
    assert max(per_process.values()) <= 6, per_process
    assert len(per_process) >= 40 // 6, per_process
    log = workers.log.read_text()
    assert log.count("is recycling (max jobs") >= len(per_process) - 2, log


def asyncio_run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)
