"""pgjobs' side of ``bench/drain.py``: fill a queue, run workers, read the figures.

A worker here is the real thing: ``python -m procrastinate --app=jobs.app worker``
with a no-op task module (``bench.noop``, which returns None: the result, the
attempt and the status are still stored, as for any job). The "today" path runs
the same command on a git worktree of the code before the engine
(``--baseline-ref``), so both are exactly what shipped, on the same database.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.postgres import BenchPostgres, tree_cpu_seconds
from db import job_store

QUEUE = "bench"
TASK = "bench.noop"
TASK_MODULE = "bench_noop_tasks"
TASK_MODULE_SOURCE = textwrap.dedent(
    '''
    """The benchmark's no-op task (written by bench/drain_pgjobs.py)."""
    from pydantic import BaseModel

    from jobs.tasks.context import TaskContext
    from jobs.tasks.registry import registry


    class Nothing(BaseModel):
        pass


    @registry.task(name="bench.noop", args=Nothing, queue="bench")
    async def noop(ctx: TaskContext, args: Nothing) -> None:
        return None
    '''
)
#: Marks the bench's own statements, left out of the statement counts.
PROBE = "/* bench-probe */ "


@dataclass
class Code:
    """Which pgjobs runs the workers: a source tree, and where the task module is written."""

    label: str
    source: Path
    module_dir: Path

    def env(self, database_url: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_")}
        env.update(
            DATABASE_URL=database_url,
            PYTHONPATH=f"{self.module_dir}{os.pathsep}{self.source}",
            PGJOBS_TASK_MODULES=TASK_MODULE,
            PGJOBS_POOL_MAX_SIZE="20",
            **extra,
        )
        return env


def write_task_module(directory: Path) -> None:
    (directory / f"{TASK_MODULE}.py").write_text(TASK_MODULE_SOURCE)


@contextmanager
def baseline_worktree(repository: Path, ref: str, directory: Path) -> Iterator[Path]:
    """A detached git worktree of ``ref`` (the code before the engine), removed at the end."""
    subprocess.run(
        ["git", "-C", str(repository), "worktree", "add", "--detach", "--force", str(directory),
         ref],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield directory
    finally:
        subprocess.run(
            ["git", "-C", str(repository), "worktree", "remove", "--force", str(directory)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


@dataclass
class Figures:
    """What one run measured; per-job figures are over the jobs finished in the window."""

    label: str
    jobs: int
    seconds: float
    rate: float
    worker_cpu_ms: float
    #: CPU of what stores the jobs: Postgres for pgjobs, Redis for Celery.
    store_cpu_ms: float
    #: Statements (pgjobs) or Redis commands (Celery) per job: each one a round trip.
    statements: float

    @property
    def cpu_ms(self) -> float:
        return self.worker_cpu_ms + self.store_cpu_ms


class Bench:
    """One benchmark database on the throwaway server, and the runs made on it."""

    def __init__(self, server: BenchPostgres, database: str) -> None:
        self.server = server
        self.database = database
        self.url = server.url(database)
        self.probe = psycopg.connect(self.url, autocommit=True)
        row = self.probe.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self.probe_pid = int(row[0])

    def close(self) -> None:
        self.probe.close()

    def _one(self, sql: str, params: Any = None) -> Any:
        row = self.probe.execute((PROBE + sql).encode(), params).fetchone()
        assert row is not None
        return row[0]

    def statements(self) -> int:
        """Top-level statements run in the bench database so far (the bench's own left out)."""
        return int(
            self._one(
                "SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query NOT LIKE '%%bench-probe%%'"
            )
        )

    def remaining(self) -> int:
        return int(
            self._one(
                "SELECT count(*) FROM procrastinate_jobs "
                "WHERE status IN ('todo', 'doing') AND queue_name = %s",
                [QUEUE],
            )
        )

    def events_trigger(self, name: str, *, enabled: bool) -> None:
        """Turn pgjobs' live-events trigger on or off (the bench's own database only)."""
        action = "ENABLE" if enabled else "DISABLE"
        self.probe.execute(
            f"{PROBE}ALTER TABLE procrastinate_events {action} TRIGGER {name}".encode()
        )

    def reset(self) -> None:
        """An empty queue, for the next run."""
        self.probe.execute((PROBE + "TRUNCATE procrastinate_jobs CASCADE").encode())

    def fill(self, jobs: int) -> None:
        """Create ``jobs`` no-op jobs the way the API does (records, events, NOTIFY)."""

        async def create() -> None:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                for start in range(0, jobs, 5000):
                    batch = [
                        job_store.NewJob(task=TASK, args={}, queue=QUEUE, priority=0)
                        for _ in range(min(5000, jobs - start))
                    ]
                    await job_store.job_defer_many(conn, batch, created_by="bench")

        import asyncio

        asyncio.run(create())
        self.probe.execute((PROBE + "VACUUM ANALYZE procrastinate_jobs").encode())

    def fill_fast(self, jobs: int) -> None:
        """``jobs`` no-op jobs straight into the tables (no triggers): a huge backlog quickly."""
        statements = [
            "SET session_replication_role = replica",
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
            "SELECT %(queue)s, %(task)s, '{}' FROM generate_series(1, %(jobs)s)",
            "INSERT INTO pgjobs_jobs (job_id, created_by) "
            "SELECT id, 'bench' FROM procrastinate_jobs WHERE status = 'todo'",
            "SET session_replication_role = DEFAULT",
        ]
        params = {"queue": QUEUE, "task": TASK, "jobs": jobs}
        for statement in statements:
            self.probe.execute((PROBE + statement).encode(), params if "%(" in statement else None)
        self.probe.execute((PROBE + "VACUUM ANALYZE procrastinate_jobs, pgjobs_jobs").encode())

    def start_workers(
        self, code: Code, count: int, concurrency: int, **env: str
    ) -> list[subprocess.Popen[bytes]]:
        command = [sys.executable, "-m", "procrastinate", "--app=jobs.app", "worker",
                   "--concurrency", str(concurrency), "--queues", QUEUE]  # fmt: skip
        return [
            subprocess.Popen(
                command,
                cwd=code.module_dir,
                env=code.env(self.url, **env),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]

    def workers_cpu(self, workers: list[subprocess.Popen[bytes]]) -> float:
        return sum(tree_cpu_seconds(worker.pid) for worker in workers)

    def postgres_cpu(self) -> float:
        return self.server.cpu_seconds(exclude=frozenset({self.probe_pid}))

    def drain(
        self, label: str, code: Code, jobs: int, *, workers: int = 1, concurrency: int = 10,
        fill: str = "api", measure: int | None = None, **env: str,
    ) -> Figures:  # fmt: skip
        """Fill ``jobs``, start the workers, measure from the first job finished to the
        ``measure``-th (all by default), stop the workers."""
        self.reset()
        (self.fill if fill == "api" else self.fill_fast)(jobs)
        target = jobs if measure is None else measure
        running = self.start_workers(code, workers, concurrency, **env)
        try:
            self._wait(lambda: self.remaining() < jobs, timeout=120)
            first = (time.monotonic(), self.remaining(), self.workers_cpu(running),
                     self.postgres_cpu(), self.statements())  # fmt: skip
            self._wait(lambda: self.remaining() <= jobs - target, timeout=1800, interval=0.1)
            last = (time.monotonic(), self.remaining(), self.workers_cpu(running),
                    self.postgres_cpu(), self.statements())  # fmt: skip
        finally:
            stop(running)
        done = first[1] - last[1]
        return Figures(
            label=label,
            jobs=done,
            seconds=last[0] - first[0],
            rate=self.finish_rate(),
            worker_cpu_ms=(last[2] - first[2]) * 1000 / done,
            store_cpu_ms=(last[3] - first[3]) * 1000 / done,
            statements=(last[4] - first[4]) / done,
        )

    def finish_rate(self) -> float:
        """Jobs finished per second, from their 'succeeded' events (the database's clock)."""
        count, span = self.probe.execute(
            (
                PROBE + "SELECT count(*), extract(epoch FROM max(at) - min(at))::float8 "
                "FROM procrastinate_events WHERE type = 'succeeded'"
            ).encode()
        ).fetchone() or (0, 0.0)
        return (count - 1) / span if span else 0.0

    def pickup_latency(
        self, code: Code, *, rate: float = 100.0, seconds: float = 10.0, concurrency: int = 10
    ) -> tuple[float, float]:
        """p50 and p99 (ms) from a job's creation to its start, at ``rate`` jobs/s."""
        self.reset()
        running = self.start_workers(code, 1, concurrency)
        try:
            self._wait(self._worker_listening, timeout=60)
            with psycopg.connect(self.url, autocommit=True) as producer:
                period = 1.0 / rate
                next_at = time.monotonic()
                for _ in range(int(rate * seconds)):
                    producer.execute(
                        "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, 0, NULL, NULL, "
                        "'{}'::jsonb, NULL)::procrastinate_job_to_defer_v1])",
                        [QUEUE, TASK],
                    )
                    next_at += period
                    time.sleep(max(0.0, next_at - time.monotonic()))
            self._wait(lambda: self.remaining() == 0, timeout=60)
        finally:
            stop(running)
        rows = self.probe.execute(
            (
                PROBE + "SELECT extract(epoch FROM started.at - deferred.at)::float8 * 1000 "
                "FROM procrastinate_events deferred JOIN procrastinate_events started "
                "ON started.job_id = deferred.job_id AND started.type = 'started' "
                "WHERE deferred.type = 'deferred'"
            ).encode()
        ).fetchall()
        latencies = sorted(float(row[0]) for row in rows)
        return statistics.median(latencies), latencies[int(len(latencies) * 0.99)]

    def _worker_listening(self) -> bool:
        return bool(
            self._one(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'LISTEN %%'"
            )
        )

    @staticmethod
    def _wait(probe: Any, *, timeout: float, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if time.monotonic() > deadline:
                raise TimeoutError(f"bench: not done after {timeout} s")
            time.sleep(interval)


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
