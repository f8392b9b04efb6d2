"""Abort latency with real processes: POST /jobs/{id}/cancel -> the job is ``aborted``.

    uv run python -m bench.abort [--runs 5] [--database-url URL]

An API and one procrastinate worker on a scratch database; the worker polls for
aborts once an hour, so only LISTEN/NOTIFY can be prompt. For an async job
(``llm.generate``) and a sync one (``video.transcode``, 60 ms segments: a sync
task notices an abort between segments), each run starts a job, waits until it
runs, cancels it and polls ``GET /jobs/{id}`` every 5 ms until it is ``aborted``.

Figures: the client's POST cancel -> ``aborted`` as observed, and the server's
``abort_requested`` -> ``aborted`` events (its own clock). Baseline, in the same
run: the client's ``GET /jobs/{id}`` round trip, the floor of any observation.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.harness import scratch_database
from harness.conditions import wait_for
from harness.stack import Stack

ASYNC_JOB = {
    "task": "llm.generate",
    "args": {"prompt": "slow", "max_tokens": 4096, "seconds_per_token": 0.05},
}
SYNC_JOB = {
    "task": "video.transcode",
    "args": {"video_url": "s3://b/v.mov", "duration_seconds": 600, "segments": 10_000},
}


def _status(client: httpx.Client, job_id: int) -> str:
    return str(client.get(f"/jobs/{job_id}").json()["status"])


def _is(client: httpx.Client, job_id: int, *statuses: str) -> bool:
    return _status(client, job_id) in statuses


def _server_seconds(database_url: str, job_id: int) -> float:
    """Seconds between the abort_requested and aborted events, on the server's clock."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT type::text, at FROM procrastinate_events WHERE job_id = %s"
            " AND type IN ('abort_requested', 'aborted')",
            [job_id],
        ).fetchall()
    times: dict[str, datetime.datetime] = dict(rows)
    return (times["aborted"] - times["abort_requested"]).total_seconds()


def measure(
    client: httpx.Client, database_url: str, body: dict[str, Any], runs: int
) -> tuple[list[float], list[float], list[float]]:
    """(client POST->aborted, server abort_requested->aborted, GET round trip) per run."""
    observed: list[float] = []
    server: list[float] = []
    round_trips: list[float] = []
    for _ in range(runs):
        job_id = int(client.post("/jobs", json=body).json()["id"])
        wait_for(functools.partial(_is, client, job_id, "doing"), what="the job to start")
        started = time.perf_counter()
        _status(client, job_id)
        round_trips.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert client.post(f"/jobs/{job_id}/cancel").json()["abort_requested"] is True
        ended = functools.partial(_is, client, job_id, "aborted", "succeeded", "failed")
        wait_for(ended, interval=0.005, what="the job to end")
        observed.append(time.perf_counter() - started)
        assert _status(client, job_id) == "aborted"
        server.append(_server_seconds(database_url, job_id))
    return observed, server, round_trips


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:6.1f} ms, max {max(values) * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with (
        scratch_database(args.database_url) as database_url,
        tempfile.TemporaryDirectory(prefix="pgjobs-bench-abort-") as logs,
    ):
        stack = Stack(database_url=database_url, log_dir=Path(logs))
        try:
            stack.start_api()
            stack.start_worker("--abort-job-polling-interval", "3600")
            with stack.client() as client:
                for name, body in (("async llm.generate", ASYNC_JOB), ("sync video", SYNC_JOB)):
                    observed, server, round_trips = measure(client, database_url, body, args.runs)
                    print(f"\n{name} ({args.runs} aborts)")
                    print(f"  client POST cancel -> aborted      {_ms(observed)}")
                    print(f"  server abort_requested -> aborted  {_ms(server)}")
                    print(f"  baseline: GET /jobs/{{id}}          {_ms(round_trips)}")
                    ratio = statistics.median(observed) / statistics.median(round_trips)
                    print(f"  client abort / GET round trip: {ratio:.1f}x")
        finally:
            stack.close()


if __name__ == "__main__":
    main()
