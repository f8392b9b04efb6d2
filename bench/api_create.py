"""POST /jobs throughput and latency against the seed teams' patterns, side by side in one run.

Usage (a scratch database is created and dropped on the local server, or pass
--database-url; Celery needs the bench group, Redis on 127.0.0.1:6379, and the
load comes from ``wrk``, Debian package ``wrk``):

    uv run --group bench python -m bench.api_create --seconds 20 --connections 32

Each endpoint runs in one uvicorn process (uvloop, httptools) and takes the same
wrk load (2 threads, ``--connections`` keep-alive connections) after a warm-up:

* ``pgjobs``: the API's ``POST /jobs`` (validation against the task's model,
  the job and its record in one statement; authentication off, loopback only, as
  the patterns have none), and again with the live-events trigger off, to show
  what announcing events costs a create;
* ``seed``: FastAPI inserting its row, committing, then Celery ``.delay()``;
* ``procrastinate``: FastAPI inserting its row and deferring with
  procrastinate in the same transaction (bench/api_patterns.py).

A Python load generator on this 2-core machine would saturate a core before the
server does and measure itself: wrk is required. That the create path is one
statement per request is checked by the tests (tests/integration/round_trips.py).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import psycopg

from bench.harness import api_server, scratch_database

EVENTS_TRIGGER = "pgjobs_notify_events_v2"
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"task": "%s", "args": %s}'
wrk.headers["Content-Type"] = "application/json"
"""
#: The task each endpoint is asked to create (pgjobs validates its arguments' model).
PGJOBS_BODY = ("tools.run", '{"tool": "bench", "input": {"n": 1}}')
PATTERN_BODY = ("bench.noop", '{"n": 1}')


@dataclass
class Result:
    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(label: str, url: str, body: tuple[str, str], connections: int, seconds: float) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % body)
    base = ["wrk", "-t2", f"-c{connections}", "-s", script.name, url + "/jobs"]
    subprocess.run([*base[:3], "-d3s", *base[3:]], check=True, capture_output=True)  # warm-up
    out = subprocess.run(
        [*base[:3], f"-d{int(seconds)}s", "--latency", *base[3:]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _milliseconds(re.search(r"\s50%\s+(\S+)", out)[1])  # type: ignore[index]
    p99 = _milliseconds(re.search(r"\s99%\s+(\S+)", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(label, rate, p50, p99, int(errors[1]) if errors else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench.api_create needs wrk (apt-get install wrk)")

    results = []
    load = (args.connections, args.seconds)
    with scratch_database(args.database_url) as database_url:
        # Authentication off (loopback only): the patterns it is compared with have none.
        pgjobs_env = {
            "PGJOBS_POOL_MAX_SIZE": "20",
            "PGJOBS_TASK_MODULES": "jobs.examples",
            "PGJOBS_AUTH": "off",
            "PGJOBS_CREATE_RATE_PER_SECOND": "0",
        }
        with api_server(database_url, **pgjobs_env) as url:
            results.append(wrk("pgjobs POST /jobs", url, PGJOBS_BODY, *load))
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f"ALTER TABLE procrastinate_events DISABLE TRIGGER {EVENTS_TRIGGER}")
                results.append(wrk("pgjobs, events trigger off", url, PGJOBS_BODY, *load))
                conn.execute(f"ALTER TABLE procrastinate_events ENABLE TRIGGER {EVENTS_TRIGGER}")
        with api_server(database_url, factory="bench.api_patterns:seed_app") as url:
            results.append(wrk("seed: insert, commit, Celery .delay()", url, PATTERN_BODY, *load))
        with api_server(database_url, factory="bench.api_patterns:procrastinate_app") as url:
            results.append(
                wrk("FastAPI + procrastinate defer, one transaction", url, PATTERN_BODY, *load)
            )

    seed = results[2]
    print(f"wrk -t2 -c{args.connections} -d{int(args.seconds)}s, one uvicorn process each\n")
    print("| endpoint | req/s | vs seed | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in results:
        print(
            f"| {row.label} | {row.requests_per_second:.0f} "
            f"| {row.requests_per_second / seed.requests_per_second:.2f}x "
            f"| {row.p50_ms:.1f} | {row.p99_ms:.1f} | {row.errors} |"
        )


if __name__ == "__main__":
    main()
