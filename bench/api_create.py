"""POST /jobs throughput and latency: 32 concurrent clients against one uvicorn process.

Usage (a scratch database is created and dropped on the local server, or pass --database-url):

    uv run python -m bench.api_create --seconds 20 --clients 32

The load comes from ``wrk`` (Debian package ``wrk``) when it is installed: a
Python client on the same 2-core machine saturates a core before the server
does and would measure itself. Without wrk an httpx client is used and the
output says so. Also prints the transactions committed per request
(pg_stat_database.xact_commit): the create path is one statement, one commit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from migrations import runner

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _client(
    http: httpx.AsyncClient, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    body = {"task": "tools.run", "args": {"tool": "bench", "input": {"n": 1}}}
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        response = await http.post("/jobs", json=body)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 201:
            errors.append(response.status_code)


async def _load(
    base_url: str, clients: int, seconds: float
) -> tuple[list[float], list[int], float]:
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        # warm-up: open connections, fill the pool, JIT nothing
        await asyncio.gather(
            *(_client(http, time.perf_counter() + 1, [], []) for _ in range(clients))
        )
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client(http, stop_at, latencies, errors) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def _commits(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0])


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"task": "tools.run", "args": {"tool": "bench", "input": {"n": 1}}}'
wrk.headers["Content-Type"] = "application/json"
"""


def _wrk(base_url: str, clients: int, seconds: float) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    warm = ["wrk", "-t1", f"-c{clients}", "-d2s", "-s", script.name, base_url + "/jobs"]
    subprocess.run(warm, check=True, capture_output=True)
    command = [
        "wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency",
        "-s", script.name, base_url + "/jobs",
    ]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()

    scratch = None
    database_url = args.database_url
    if database_url is None:
        scratch = f"pgjobs_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{scratch}"')
        database_url = f"postgresql://127.0.0.1:5432/{scratch}"
    runner.upgrade(database_url)

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PGJOBS_POOL_MAX_SIZE": "20"}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_environment",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base_url + "/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if shutil.which("wrk"):
            commits_before = _commits(database_url)
            report = _wrk(base_url, args.clients, args.seconds)
            commits = _commits(database_url) - commits_before
            requests = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
            print(f"load generator: wrk -t2 -c{args.clients} -d{int(args.seconds)}s")
            print(report.strip())
            print(f"transactions committed per request: {commits / max(requests, 1):.2f}")
            return
        print("load generator: httpx (install wrk for server-bound figures)")
        commits_before = _commits(database_url)
        latencies, errors, elapsed = asyncio.run(_load(base_url, args.clients, args.seconds))
        commits = _commits(database_url) - commits_before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if scratch is not None:
            with psycopg.connect("postgresql://127.0.0.1:5432/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')

    latencies.sort()
    count = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"clients={args.clients} seconds={elapsed:.1f} requests={count} errors={len(errors)}")
    print(f"throughput: {count / elapsed:.0f} requests/s")
    print(
        f"latency ms: p50={quantiles[49] * 1000:.1f} p90={quantiles[89] * 1000:.1f} "
        f"p99={quantiles[98] * 1000:.1f} max={latencies[-1] * 1000:.1f}"
    )
    print(f"transactions committed per request: {commits / max(count, 1):.2f}")


if __name__ == "__main__":
    main()
