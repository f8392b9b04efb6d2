"""A batch of 10,000 jobs over HTTP, and the bulk retry of 10,000 dead letters.

Usage (a scratch database is created and dropped on the local server, or pass --database-url):

    uv run python -m bench.batch_create --jobs 10000 --runs 5

Against one uvicorn process it measures, per run:

- ``POST /batches`` with ``--jobs`` agent tasks (the showcase workload), end to end;
- the part of it that is validation in Python (``prepare_batch``), in this process;
- the create statement alone: ``create_batch`` on a direct connection, which
  sends exactly one statement (one round trip) -- on a local server this is the
  server's statement time plus the transfer of the parameters;
- ``POST /dead-letters/retry`` of the same number of failed jobs (one statement).

Prints the median and the best of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from bench.harness import api_server, scratch_database
from jobs.control import batches
from jobs.control.enqueue import JobCreate, defer_prepared


def _items(jobs: int, run: int) -> list[dict[str, Any]]:
    return [
        {
            "task": "agents.run",
            "args": {
                "agent": f"agent-{run}-{number}",
                "objective": f"Triage support ticket #{number} and draft a reply",
                "steps": 3,
            },
        }
        for number in range(jobs)
    ]


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def _fail_all(database_url: str, job_ids: list[int]) -> None:
    """Move the jobs to failed the way a worker would (doing, then failed)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = ANY(%s)", [job_ids])
        conn.execute(
            "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = ANY(%s)", [job_ids]
        )


async def _statement_only(database_url: str, items: list[dict[str, Any]]) -> tuple[float, float]:
    """(validation seconds, create statement seconds) for one batch, on a direct connection."""
    requests = [JobCreate(task=item["task"], args=item["args"]) for item in items]
    validation, new_jobs = _timed(lambda: batches.prepare_batch(requests))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        started = time.perf_counter()
        await defer_prepared(conn, new_jobs, created_by="bench", batch_id=uuid.uuid4())
        return validation, time.perf_counter() - started


def _summary(name: str, seconds: list[float], jobs: int) -> str:
    median = statistics.median(seconds)
    return (
        f"{name:<44} median {median * 1000:8.0f} ms   best {min(seconds) * 1000:8.0f} ms"
        f"   ({jobs / median:,.0f} jobs/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--jobs", type=int, default=batches.MAX_BATCH_SIZE)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    http_create: list[float] = []
    validation: list[float] = []
    statement: list[float] = []
    http_retry: list[float] = []
    body_bytes = 0
    with (
        scratch_database(args.database_url) as database_url,
        api_server(database_url) as base_url,
        httpx.Client(base_url=base_url, timeout=120) as http,
    ):
        for run in range(args.runs + 1):  # run 0 warms up the server and Postgres
            items = _items(args.jobs, run)
            body = httpx.Request("POST", "/", json={"jobs": items}).read()
            body_bytes = len(body)
            started = time.perf_counter()
            response = http.post(
                "/batches", content=body, headers={"content-type": "application/json"}
            )
            seconds = time.perf_counter() - started
            assert response.status_code == 201, response.text[:500]
            job_ids = response.json()["job_ids"]
            assert len(job_ids) == args.jobs

            _fail_all(database_url, job_ids)
            started = time.perf_counter()
            retried = http.post("/dead-letters/retry", json={"scope": "matching", "ids": job_ids})
            retry_seconds = time.perf_counter() - started
            assert retried.json()["retried"] == args.jobs, retried.text

            check, insert = asyncio.run(_statement_only(database_url, _items(args.jobs, -run)))
            if run:
                http_create.append(seconds)
                http_retry.append(retry_seconds)
                validation.append(check)
                statement.append(insert)

    print(f"jobs per batch: {args.jobs}  body: {body_bytes / 1e6:.2f} MB  runs: {args.runs}")
    print(_summary("POST /batches (HTTP, end to end)", http_create, args.jobs))
    print(_summary("  validation in Python (prepare_batch)", validation, args.jobs))
    print(_summary("  create statement (1 round trip, direct)", statement, args.jobs))
    print(_summary("POST /dead-letters/retry (HTTP, 1 statement)", http_retry, args.jobs))


if __name__ == "__main__":
    main()
