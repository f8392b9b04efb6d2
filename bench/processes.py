"""Drain rate of CPU-bound jobs: ``pgjobs worker --processes 2`` against two separate workers.

    uv run python -m bench.processes [--jobs 60] [--cpu-seconds 0.2] [--rounds 3]

Both set-ups run ``pgjobs worker`` itself (over the test app with the
``heavy.spin`` task: pure-Python CPU work holding the GIL) with concurrency 1
per process. The queue is filled first; the rate is jobs over the time from the
first attempt's start to the last one's end (``pgjobs_attempts``), so process
start-up is left out. Rounds alternate the two set-ups in the same run; the
figure that matters is the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg

from bench.harness import scratch_database
from harness.heavy_app import QUEUE, heavy
from harness.processes import ROOT
from jobs.control.enqueue import enqueue

SETUPS: dict[str, list[list[str]]] = {
    "--processes 2": [["--processes", "2"]],
    "2 x pgjobs worker": [["--processes", "1"], ["--processes", "1"]],
}


def worker_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_")}
    env.update(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        PGJOBS_EXTRA_QUEUES=QUEUE,
        PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS="5",
    )
    return env


async def fill(database_url: str, jobs: int, cpu_seconds: float) -> list[int]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return [
            (await enqueue(conn, "heavy.spin", {"seconds": cpu_seconds}, tasks=heavy)).id
            for _ in range(jobs)
        ]


def wait_until(probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the jobs did not finish in time")
        time.sleep(0.2)


def drain(database_url: str, flags: list[list[str]], jobs: int, cpu_seconds: float) -> float:
    """Jobs per second for one set-up, on a queue filled beforehand."""
    job_ids = asyncio.run(fill(database_url, jobs, cpu_seconds))
    supervisors = [
        subprocess.Popen(
            [sys.executable, "-m", "harness.heavy_worker", "--concurrency", "1",
             "--queues", QUEUE, *extra],
            cwd=ROOT,
            env=worker_env(database_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for extra in flags
    ]  # fmt: skip
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:

            def finished() -> bool:
                row = conn.execute(
                    "SELECT count(*) FROM procrastinate_jobs "
                    "WHERE id = ANY(%s) AND status = 'succeeded'",
                    [job_ids],
                ).fetchone()
                return row is not None and row[0] == len(job_ids)

            wait_until(finished, timeout=30 + jobs * cpu_seconds * 4)
            row = conn.execute(
                "SELECT extract(epoch FROM max(finished_at) - min(started_at)), "
                "count(DISTINCT worker_id) FROM pgjobs_attempts WHERE job_id = ANY(%s)",
                [job_ids],
            ).fetchone()
            assert row is not None
            elapsed, processes = float(row[0]), int(row[1])
            assert processes == 2, f"expected two worker processes, saw {processes}"
    finally:
        for supervisor in supervisors:
            supervisor.send_signal(signal.SIGTERM)
        for supervisor in supervisors:
            supervisor.wait(timeout=60)
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--cpu-seconds", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in SETUPS}
    with scratch_database(args.database_url) as url:
        for round_number in range(args.rounds):
            for name, flags in SETUPS.items():
                rate = drain(url, flags, args.jobs, args.cpu_seconds)
                rates[name].append(rate)
                print(f"round {round_number + 1}: {name:<18} {rate:6.2f} jobs/s", flush=True)
    one_process = 1 / args.cpu_seconds
    print(
        f"\n{args.jobs} jobs of {args.cpu_seconds} s CPU each (1 process: <= {one_process:.1f}/s)"
    )
    print("set-up             | median jobs/s | runs")
    for name, values in rates.items():
        runs = ", ".join(f"{value:.2f}" for value in values)
        print(f"{name:<18} | {statistics.median(values):13.2f} | {runs}")
    ratio = statistics.median(rates["--processes 2"]) / statistics.median(
        rates["2 x pgjobs worker"]
    )
    print(f"ratio --processes 2 / 2 x pgjobs worker: {ratio:.2f}")


if __name__ == "__main__":
    main()
