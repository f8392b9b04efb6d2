"""POST /jobs throughput and latency: 32 concurrent clients against one uvicorn process.

Usage (a scratch database is created and dropped on the local server, or pass --database-url):

    uv run python -m bench.api_create --seconds 20 --clients 32

The load comes from ``wrk`` (Debian package ``wrk``) when it is installed: a
Python client on the same 2-core machine saturates a core before the server
does and would measure itself. Without wrk an httpx client is used and the
output says so. That the create path is one statement per request is checked
by the tests (tests/integration/round_trips.py traces the wire) and can be seen
with ``log_statement = 'all'`` on the benchmark's database.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time

import httpx

from bench.harness import api_server, scratch_database


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

    with (
        scratch_database(args.database_url) as database_url,
        api_server(database_url, PGJOBS_POOL_MAX_SIZE="20") as base_url,
    ):
        if shutil.which("wrk"):
            report = _wrk(base_url, args.clients, args.seconds)
            print(f"load generator: wrk -t2 -c{args.clients} -d{int(args.seconds)}s")
            print(report.strip())
            return
        print("load generator: httpx (install wrk for server-bound figures)")
        latencies, errors, elapsed = asyncio.run(_load(base_url, args.clients, args.seconds))

    latencies.sort()
    count = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"clients={args.clients} seconds={elapsed:.1f} requests={count} errors={len(errors)}")
    print(f"throughput: {count / elapsed:.0f} requests/s")
    print(
        f"latency ms: p50={quantiles[49] * 1000:.1f} p90={quantiles[89] * 1000:.1f} "
        f"p99={quantiles[98] * 1000:.1f} max={latencies[-1] * 1000:.1f}"
    )


if __name__ == "__main__":
    main()
