"""POST /jobs for a task the API imports versus one it knows only from the task catalog.

Usage (a scratch database is created and dropped on the local server, or pass --database-url):

    uv run python -m bench.catalog_create --seconds 10 --clients 16

Two API processes on one database, one after the other, the same load: the first
imports the demo tasks (``tools.run`` validated by its pydantic model), the
second imports none and validates ``tools.run`` against the JSON Schema a worker
published (``jsonschema``, Draft 2020-12, from a cached copy of the catalog).
The figure that matters is the ratio of the two throughputs, measured in the
same run on the same machine, in ABBA order (``--rounds`` times) so a change of
the machine's load during the run weighs on both; absolute numbers move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from bench.harness import api_server, scratch_database

BODY = {"task": "tools.run", "args": {"tool": "bench", "input": {"n": 1}}}


async def _client(http: httpx.AsyncClient, stop_at: float, latencies: list[float]) -> None:
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        response = await http.post("/jobs", json=BODY)
        if response.status_code != 201:
            raise RuntimeError(f"POST /jobs answered {response.status_code}: {response.text}")
        latencies.append(time.perf_counter() - started)


async def _load(base_url: str, clients: int, seconds: float) -> tuple[float, float]:
    """Requests per second and the median latency (ms) over ``seconds``, after a warm-up."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        await asyncio.gather(*(_client(http, time.perf_counter() + 1, []) for _ in range(clients)))
        latencies: list[float] = []
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client(http, stop_at, latencies) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {}
    imported = ("imported (model)", "jobs.examples")
    published = ("catalog (schema)", "")
    with scratch_database(args.database_url) as database_url:
        # the first API imports the demo tasks and publishes them: the catalog the
        # second one reads is exactly what a worker with jobs.examples publishes
        for label, modules in [imported, published, published, imported] * args.rounds:
            with api_server(
                database_url, PGJOBS_AUTH="off", PGJOBS_POOL_MAX_SIZE="20",
                PGJOBS_TASK_MODULES=modules, PGJOBS_CATALOG_FORGET_AFTER_HOURS="1",
            ) as base_url:  # fmt: skip
                if not modules:
                    tasks = {task["name"]: task for task in httpx.get(f"{base_url}/tasks").json()}
                    assert tasks["tools.run"]["validated_by"] == "schema", tasks["tools.run"]
                runs.setdefault(label, []).append(
                    asyncio.run(_load(base_url, args.clients, args.seconds))
                )
    results = {
        label: (
            statistics.median(run[0] for run in measured),
            statistics.median(run[1] for run in measured),
        )
        for label, measured in runs.items()
    }
    baseline = results["imported (model)"][0]
    print(f"clients={args.clients} seconds={args.seconds:g} rounds={args.rounds} task=tools.run")
    for label, (throughput, median) in results.items():
        print(
            f"{label:18} {throughput:7.0f} requests/s  p50 {median:6.1f} ms  "
            f"ratio {throughput / baseline:.2f}"
        )


if __name__ == "__main__":
    main()
