"""Webhook delivery latency: from a job's completion (its final event) to the receiver.

    uv run python -m bench.webhooks [--jobs 300] [--rate 30]

An API and one ``pgjobs worker`` (concurrency 8) on a scratch database, a real
HTTP receiver on 127.0.0.1 (the test receiver, which verifies each signature),
and jobs of ``llm.generate`` created over HTTP at ``--rate`` per second, each
with a ``callback_url``. Latency = arrival at the receiver minus the job's
final event time in Postgres (the commit of its completion), both on this
machine's clock; the delivery's own pickup, signing and HTTP round trip are in it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

import httpx
import psycopg

from bench.harness import api_server, scratch_database
from harness.processes import ROOT
from harness.webhook_receiver import Receiver

SECRET = "bench-secret-0123456789"


def environment(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "PGJOBS_AUTH": "off",
        "PGJOBS_TASK_MODULES": "jobs.examples",
        "PGJOBS_CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
        "PGJOBS_CALLBACK_ALLOW_PRIVATE_NETWORKS": "true",
        "PGJOBS_CALLBACK_SECRET": SECRET,
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with (
        scratch_database(args.database_url) as url,
        Receiver(SECRET.encode()) as receiver,
        api_server(url, **environment(url)) as base_url,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_")}
        worker = subprocess.Popen(
            [sys.executable, "-m", "api.cli.main", "worker", "--concurrency", "8"],
            cwd=ROOT,
            env={**env, **environment(url)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                deadline = time.monotonic() + 60
                while not conn.execute("SELECT 1 FROM procrastinate_workers").fetchone():
                    assert time.monotonic() < deadline, "the worker did not start"
                    time.sleep(0.1)
            job_ids: list[int] = []
            with httpx.Client(base_url=base_url, timeout=10) as client:
                next_at = time.monotonic()
                for _ in range(args.jobs):
                    response = client.post(
                        "/jobs",
                        json={
                            "task": "llm.generate",
                            "args": {"prompt": "latency", "max_tokens": 2},
                            "callback_url": receiver.url,
                        },
                    )
                    response.raise_for_status()
                    job_ids.append(response.json()["id"])
                    next_at += 1 / args.rate
                    time.sleep(max(0.0, next_at - time.monotonic()))
            deadline = time.monotonic() + 120
            while len(receiver.received) < args.jobs and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        arrivals = {
            json.loads(request.body)["job"]["id"]: request.at for request in receiver.received
        }
        verified = sum(request.verified for request in receiver.received)
        with psycopg.connect(url, autocommit=True) as conn:
            finished: dict[int, float] = dict(
                conn.execute(
                    "SELECT job_id, extract(epoch FROM at) FROM procrastinate_events "
                    "WHERE job_id = ANY(%s) AND type = 'succeeded'",
                    [job_ids],
                ).fetchall()
            )
            job_pickup = [
                float(value) * 1000
                for (value,) in conn.execute(
                    "SELECT extract(epoch FROM s.at - d.at) FROM procrastinate_events d "
                    "JOIN procrastinate_events s ON s.job_id = d.job_id AND s.type = 'started' "
                    "WHERE d.type = 'deferred' AND d.job_id = ANY(%s)",
                    [job_ids],
                ).fetchall()
            ]
            # when each delivery job started: the pickup part of the latency
            started: dict[int, float] = dict(
                conn.execute(
                    "SELECT c.job_id, extract(epoch FROM e.at) FROM pgjobs_callbacks c "
                    "JOIN procrastinate_events e ON e.job_id = c.delivery_job_id "
                    "AND e.type = 'started' WHERE c.job_id = ANY(%s)",
                    [job_ids],
                ).fetchall()
            )
    pickups = [
        (float(started[job]) - float(finished[job])) * 1000
        for job in job_ids
        if job in started and job in finished
    ]
    latencies = [
        (arrivals[job] - float(finished[job])) * 1000
        for job in job_ids
        if job in arrivals and job in finished
    ]
    print(f"{len(latencies)} of {args.jobs} callbacks received ({verified} signatures valid)")
    print("delivery latency after completion, ms")
    print(
        f"p50 {percentile(latencies, 0.5):.1f}  p90 {percentile(latencies, 0.9):.1f}  "
        f"p99 {percentile(latencies, 0.99):.1f}  max {max(latencies):.1f}  "
        f"mean {statistics.fmean(latencies):.1f}"
    )
    print(
        f"of which the delivery job's pickup: p50 {percentile(pickups, 0.5):.1f}  "
        f"p99 {percentile(pickups, 0.99):.1f}"
    )
    print(
        f"(for comparison, the jobs' own pickup after creation: p50 "
        f"{percentile(job_pickup, 0.5):.1f}  p99 {percentile(job_pickup, 0.99):.1f})"
    )


if __name__ == "__main__":
    main()
