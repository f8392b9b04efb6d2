"""Drain benchmark: today's procrastinate path, pgjobs' engine and Celery + Redis, side by side.

Usage (needs PostgreSQL 15's binaries, Redis on 127.0.0.1:6379, and the bench group):

    uv run --group bench python -m bench.drain                # the full run (~15 min)
    uv run --group bench python -m bench.drain --jobs 3000 --backlog 100000 --quick

Everything runs in one process, on one throwaway Postgres (fsync on,
pg_stat_statements loaded: bench/postgres.py), so every figure is a ratio
against a baseline measured in the same run on the same machine:

* **drain**: N no-op jobs queued, then one worker process with concurrency 10
  (results, attempts and events stored as for any job): jobs finished per second
  (from their 'succeeded' events), worker and Postgres CPU per job, and
  statements per job (pg_stat_statements, top level, each one a round trip).
  "today" runs the code before the engine (``--baseline-ref``, a git worktree)
  on the same database. Celery runs the same no-op with no result backend, solo,
  prefork x2 and threads x10; its figures are the Celery worker's and Redis' CPU
  and Redis commands per job (less the task's own RPUSH of its timestamp);
* **pickup latency** at 100 jobs/s: from a job's creation to its start (p50, p99);
* **events trigger off**: the engine's drain with pgjobs' live-events trigger disabled;
* **backlog**: the engine's drain rate over the first N jobs of a 1M-job queue
  against a 10k-job queue;
* **processes**: the engine's drain rate with 1, 2, 4 and 8 worker processes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg

from bench.drain_pgjobs import Bench, Code, Figures, baseline_worktree, write_task_module
from bench.postgres import bench_postgres
from migrations import runner

ROOT = Path(__file__).resolve().parents[1]
#: The last commit of main before the engine landed ("today's path").
BASELINE_REF = "411c5fe"
EVENTS_TRIGGER = "pgjobs_notify_events_v2"


def table(rows: list[Figures], reference: Figures | None = None) -> str:
    lines = [
        "| run | jobs/s | vs ref | worker CPU ms/job | Postgres/Redis CPU ms/job "
        "| total CPU ms/job | statements/job |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = f"{row.rate / reference.rate:.2f}x" if reference else ""
        lines.append(
            f"| {row.label} | {row.rate:.0f} | {ratio} | {row.worker_cpu_ms:.2f} "
            f"| {row.store_cpu_ms:.2f} | {row.cpu_ms:.2f} | {row.statements:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per drain")
    parser.add_argument("--backlog", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--quick", action="store_true", help="skip Celery and the process table")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    scratch = Path(tempfile.mkdtemp(prefix="pgjobs-bench-drain-"))
    write_task_module(scratch)
    engine = Code("engine", ROOT, scratch)

    with (
        bench_postgres() as server,
        baseline_worktree(ROOT, args.baseline_ref, scratch / "baseline") as baseline_source,
    ):
        today = Code(f"today ({args.baseline_ref})", baseline_source, scratch)
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        runner.upgrade(server.url("bench"))
        bench = Bench(server, "bench")
        bench.probe.execute("CREATE EXTENSION pg_stat_statements")
        c = args.concurrency
        try:
            drains = [
                bench.drain(f"pgjobs today, 1 x c{c}", today, args.jobs, concurrency=c),
                bench.drain(f"pgjobs engine, 1 x c{c}", engine, args.jobs, concurrency=c),
            ]
            bench.events_trigger(EVENTS_TRIGGER, enabled=False)
            drains.append(
                bench.drain("pgjobs engine, events trigger off", engine, args.jobs, concurrency=c)
            )
            bench.events_trigger(EVENTS_TRIGGER, enabled=True)
            latency = {
                "pgjobs today": bench.pickup_latency(today, concurrency=c),
                "pgjobs engine": bench.pickup_latency(engine, concurrency=c),
            }
            backlog = [
                bench.drain("engine, 10k backlog", engine, 10_000, concurrency=c, fill="fast"),
                bench.drain(
                    f"engine, {args.backlog:,} backlog", engine, args.backlog, concurrency=c,
                    fill="fast", measure=min(args.jobs, args.backlog),
                ),
            ]  # fmt: skip
            processes = []
            if not args.quick:
                for count in (1, 2, 4, 8):
                    processes.append(
                        bench.drain(
                            f"engine, {count} x c{c}", engine, args.jobs, workers=count,
                            concurrency=c,
                        )
                    )  # fmt: skip
        finally:
            bench.close()

    if not args.quick:
        from bench.drain_celery import CeleryBench

        celery = CeleryBench(scratch)
        drains += [
            celery.drain("Celery+Redis solo", args.jobs, pool="solo", concurrency=1),
            celery.drain("Celery+Redis prefork x2", args.jobs, pool="prefork", concurrency=2),
            celery.drain(f"Celery+Redis threads x{c}", args.jobs, pool="threads", concurrency=c),
        ]
        latency["Celery+Redis solo"] = celery.pickup_latency(pool="solo", concurrency=1)
        celery.reset()

    reference = next((row for row in drains if row.label == "Celery+Redis solo"), drains[0])
    print(f"## Drain: {args.jobs:,} no-op jobs (ratios against {reference.label})\n")
    print(table(drains, reference))
    print("\n## Pickup latency at 100 jobs/s (creation to start)\n")
    print("| run | p50 ms | p99 ms |\n|---|---:|---:|")
    for label, (p50, p99) in latency.items():
        print(f"| {label} | {p50:.1f} | {p99:.1f} |")
    print("\n## Backlog\n")
    print(table(backlog, backlog[0]))
    if processes:
        print("\n## Worker processes\n")
        print(table(processes, processes[0]))
    results = {
        "drain": [asdict(row) for row in drains],
        "latency_ms": {label: {"p50": p50, "p99": p99} for label, (p50, p99) in latency.items()},
        "backlog": [asdict(row) for row in backlog],
        "processes": [asdict(row) for row in processes],
    }
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
