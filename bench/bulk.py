"""Bulk operations: retrying 10,000 dead letters, pruning 100,000 finished jobs.

    uv run python -m bench.bulk [--runs 3] [--dead-letters 10000] [--finished 100000]
                                [--database-url URL]

Each figure stands beside a baseline measured in the same run, on the same rows
(the tables are emptied and the rows made again before every measurement):

* **dead-letter retry** (``jobs.control.dead_letters``: one statement that locks,
  filters, requeues and wakes one worker per queue) against the bare status change
  of the same rows (``UPDATE ... SET status = 'todo'``, procrastinate's trigger
  still recording each 'retried' event): what the retry's own logic costs;
* **retention** (``jobs.maintenance.retention``: batches of 1,000 jobs, one short
  transaction each) against one ``DELETE`` of the same expired jobs: the total cost
  of batching, and the longest time any row lock is held (retention's longest
  batch against the whole ``DELETE``).

The tests check what these operations do (tests/integration/jobs/control/
test_dead_letters.py, tests/integration/jobs/maintenance/test_retention.py);
how long they take is measured here only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time
from typing import Any

import psycopg

from bench.harness import scratch_database
from db.dead_letter_store import DeadLetterFilter
from harness.bulk import (
    FINISHED_STATUSES,
    finished_days_ago,
    insert_dead_letters,
    insert_finished_jobs,
)
from jobs.control import dead_letters
from jobs.maintenance import retention
from jobs.maintenance import tasks as maintenance

Conn = psycopg.AsyncConnection[Any]

DAY = datetime.timedelta(days=1)
#: The retention policy of the tests: failed jobs kept 30 days, other final states 7.
POLICY = retention.RetentionPolicy(
    ages={"succeeded": 7 * DAY, "failed": 30 * DAY, "cancelled": 7 * DAY, "aborted": 7 * DAY},
    maintenance_age=datetime.timedelta(hours=1),
    maintenance_queue=maintenance.MAINTENANCE_QUEUE,
    batch_size=1000,
)


async def _fresh(conn: Conn) -> None:
    """No jobs at all (their events and pgjobs rows go with them)."""
    await conn.execute("TRUNCATE procrastinate_jobs CASCADE")


async def _dead_letters(conn: Conn, total: int) -> None:
    await _fresh(conn)
    await insert_dead_letters(conn, total)
    await conn.execute("ANALYZE")


async def retry_seconds(conn: Conn, total: int) -> float:
    await _dead_letters(conn, total)
    started = time.perf_counter()
    outcome = await dead_letters.retry_dead_letters(
        conn, DeadLetterFilter(task="tools.run"), scope="matching"
    )
    elapsed = time.perf_counter() - started
    assert outcome.retried == total, outcome
    return elapsed


async def status_update_seconds(conn: Conn, total: int) -> float:
    await _dead_letters(conn, total)
    started = time.perf_counter()
    cursor = await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'todo' WHERE status = 'failed'"
    )
    elapsed = time.perf_counter() - started
    assert cursor.rowcount == total
    return elapsed


async def _finished(conn: Conn, total: int) -> list[int]:
    """Make ``total`` finished jobs; the ids of those the policy expires."""
    await _fresh(conn)
    await insert_finished_jobs(conn, total)
    await conn.execute("ANALYZE")
    cursor = await conn.execute("SELECT id FROM procrastinate_jobs ORDER BY id")
    ids = [int(job_id) for (job_id,) in await cursor.fetchall()]
    return [
        job_id
        for n, job_id in enumerate(ids, start=1)
        if finished_days_ago(n) >= POLICY.ages[FINISHED_STATUSES[n % 4]].days
    ]


async def retention_seconds(conn: Conn, total: int) -> tuple[float, float]:
    """(total seconds, longest batch) of one retention run."""
    expired = await _finished(conn, total)
    started = time.perf_counter()
    report = await retention.prune_finished_jobs(conn, POLICY)
    elapsed = time.perf_counter() - started
    assert sum(report.deleted.values()) == len(expired), report.as_json()
    return elapsed, report.longest_batch_seconds


async def one_delete_seconds(conn: Conn, total: int) -> float:
    expired = await _finished(conn, total)
    started = time.perf_counter()
    cursor = await conn.execute("DELETE FROM procrastinate_jobs WHERE id = ANY(%s)", [expired])
    elapsed = time.perf_counter() - started
    assert cursor.rowcount == len(expired)
    return elapsed


def _line(name: str, values: list[float]) -> str:
    return f"  {name:<44} {statistics.median(values):7.3f} s  [{min(values):.3f}-{max(values):.3f}]"


async def run(database_url: str, runs: int, dead: int, finished: int) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        retries, updates = [], []
        for _ in range(runs):
            retries.append(await retry_seconds(conn, dead))
            updates.append(await status_update_seconds(conn, dead))
        print(f"\nretry {dead:,} dead letters ({runs} runs, median [min-max])")
        print(_line("dead-letter retry (one statement)", retries))
        print(_line("baseline: UPDATE status of the same rows", updates))
        print(f"  ratio: {statistics.median(retries) / statistics.median(updates):.2f}x")

        prunes, longest, deletes = [], [], []
        for _ in range(runs):
            seconds, batch = await retention_seconds(conn, finished)
            prunes.append(seconds)
            longest.append(batch)
            deletes.append(await one_delete_seconds(conn, finished))
        print(f"\nretention of {finished:,} finished jobs ({runs} runs, median [min-max])")
        print(_line(f"retention, batches of {POLICY.batch_size}", prunes))
        print(_line("  its longest batch (longest lock hold)", longest))
        print(_line("baseline: one DELETE of the same jobs", deletes))
        print(
            f"  ratio: total {statistics.median(prunes) / statistics.median(deletes):.2f}x, "
            f"longest lock hold {statistics.median(longest) / statistics.median(deletes):.3f}x"
        )
        await _fresh(conn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dead-letters", type=int, default=10_000)
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with scratch_database(args.database_url) as database_url:
        asyncio.run(run(database_url, args.runs, args.dead_letters, args.finished))


if __name__ == "__main__":
    main()
