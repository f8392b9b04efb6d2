"""Celery + Redis side of ``bench/drain.py``: the stack the seed teams are leaving.

A no-op task (no result backend, Celery's defaults otherwise) that records when
it ran in Redis, so the drain rate and the pickup latency are read the same way
as pgjobs' (one timestamp per job). Redis runs on 127.0.0.1:6379; the bench uses
its database 15 and empties it before and after. Needs the ``bench`` dependency
group: ``uv run --group bench python -m bench.drain``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.drain_pgjobs import Figures, stop
from bench.postgres import cpu_seconds, tree_cpu_seconds

REDIS_URL = "redis://127.0.0.1:6379/15"
MODULE = "bench_celery_app"
MODULE_SOURCE = textwrap.dedent(
    f'''
    """The benchmark's Celery app (written by bench/drain_celery.py)."""
    import time

    import redis
    from celery import Celery

    app = Celery("bench", broker="{REDIS_URL}")
    app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True,
                    worker_hijack_root_logger=False)
    store = redis.Redis.from_url("{REDIS_URL}")


    @app.task(name="bench.noop")
    def noop(sent_at=None):
        now = time.time()
        if sent_at is not None:
            store.rpush("bench:latency", now - sent_at)
        store.rpush("bench:done", now)
    '''
)


class CeleryBench:
    def __init__(self, module_dir: Path) -> None:
        import redis

        (module_dir / f"{MODULE}.py").write_text(MODULE_SOURCE)
        self.module_dir = module_dir
        sys.path.insert(0, str(module_dir))
        import bench_celery_app  # type: ignore[import-not-found]

        self.app: Any = bench_celery_app.app
        self.redis: Any = redis.Redis.from_url(REDIS_URL)
        self.redis_pid = int(self.redis.info("server")["process_id"])

    def reset(self) -> None:
        self.redis.flushdb()

    def commands(self) -> int:
        return int(self.redis.info("stats")["total_commands_processed"])

    def fill(self, jobs: int, **kwargs: Any) -> None:
        with self.app.producer_or_acquire() as producer:
            for _ in range(jobs):
                self.app.send_task("bench.noop", kwargs=kwargs, producer=producer)

    def start_worker(self, pool: str, concurrency: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(self.module_dir)}
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", MODULE, "worker", "--pool", pool,
             "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "warning"],
            cwd=self.module_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def done(self) -> int:
        return int(self.redis.llen("bench:done"))

    def drain(self, label: str, jobs: int, *, pool: str, concurrency: int) -> Figures:
        self.reset()
        self.fill(jobs)
        worker = self.start_worker(pool, concurrency)
        try:
            _wait(lambda: self.done() > 0, timeout=120)
            first = (time.monotonic(), self.done(), tree_cpu_seconds(worker.pid),
                     cpu_seconds(self.redis_pid), self.commands())  # fmt: skip
            _wait(lambda: self.done() >= jobs, timeout=1800, interval=0.1)
            last = (time.monotonic(), self.done(), tree_cpu_seconds(worker.pid),
                    cpu_seconds(self.redis_pid), self.commands())  # fmt: skip
        finally:
            stop([worker])
        finished = [float(at) for at in self.redis.lrange("bench:done", 0, -1)]
        done = last[1] - first[1]
        # each job's own bookkeeping (RPUSH) and the probes here are not Celery's cost
        probes = 4
        return Figures(
            label=label,
            jobs=done,
            seconds=last[0] - first[0],
            rate=(len(finished) - 1) / (max(finished) - min(finished)),
            worker_cpu_ms=(last[2] - first[2]) * 1000 / done,
            store_cpu_ms=(last[3] - first[3]) * 1000 / done,
            statements=(last[4] - first[4] - done - probes) / done,
        )

    def pickup_latency(
        self, *, rate: float = 100.0, seconds: float = 10.0, pool: str, concurrency: int
    ) -> tuple[float, float]:
        self.reset()
        worker = self.start_worker(pool, concurrency)
        try:
            # ready: a first task went through
            self.fill(1)
            _wait(lambda: self.done() == 1, timeout=60)
            self.reset()
            period = 1.0 / rate
            next_at = time.monotonic()
            count = int(rate * seconds)
            with self.app.producer_or_acquire() as producer:
                for _ in range(count):
                    self.app.send_task(
                        "bench.noop", kwargs={"sent_at": time.time()}, producer=producer
                    )
                    next_at += period
                    time.sleep(max(0.0, next_at - time.monotonic()))
            _wait(lambda: self.done() >= count, timeout=60)
        finally:
            stop([worker])
        latencies = sorted(float(x) * 1000 for x in self.redis.lrange("bench:latency", 0, -1))
        self.reset()
        return statistics.median(latencies), latencies[int(len(latencies) * 0.99)]


def _wait(probe: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench: not done after {timeout} s")
        time.sleep(interval)
