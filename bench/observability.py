"""Observability must not slow the queue: throughput, SSE latency, dashboard queries at scale.

Usage (scratch databases are created and dropped on the local server):

    uv run python -m bench.observability throughput --jobs 3000 --rounds 3
    uv run python -m bench.observability latency --clients 200 --events 200
    uv run python -m bench.observability queries --jobs 1000000
    uv run python -m bench.observability all

throughput
    One uvicorn API and one ``procrastinate worker --concurrency 10``; each round
    defers ``--jobs`` tools.run jobs in one statement and times the worker until all
    succeeded. Rounds alternate three loads, so drift of the shared machine hits
    all of them alike:
      quiet     the API is up, nobody watches;
      watched   a dashboard is open (its /events stream, the overview and jobs pages
                re-fetched every second, /metrics scraped every 5 s) and 200 SSE
                clients follow one job each (/jobs/{id}/events);
      firehose  as watched, but the 200 clients follow /events: every client gets
                every event (200 x 3 messages per job), the worst case.
    The clients run in a separate process. On a 2-core machine they, the API, the
    worker and Postgres share the cores: a drop here is an upper bound of what the
    API side costs a worker running on its own host.

latency
    From the commit of an event to its arrival on SSE clients: 5 probe clients in
    this process and the rest in another process, events committed one at a time.

queries
    The dashboard's queries on a table of ``--jobs`` jobs (3 events each): the job
    list with each filter, the overview's figures, an SSE replay page. Median and
    p95 of 20 runs each, warm cache.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

import jobs.examples  # noqa: F401  (the demo tasks it creates, as `pgjobs dev` loads them)
from bench.harness import API_START_DEADLINE, api_process, process, scratch_database
from db import observability_store
from db.types import JobStatus
from harness.conditions import wait_for
from jobs.control.enqueue import JobCreate, defer_prepared, prepare
from jobs.control.query import JobFilter, query_jobs

# -- scaffolding ---------------------------------------------------------------------------


@contextmanager
def api_server(database_url: str) -> Iterator[tuple[str, int]]:
    """A uvicorn API with its live events flowing: (base URL, process id)."""
    with api_process(database_url, PGJOBS_POOL_MAX_SIZE="20") as (base_url, server):

        def live() -> bool:
            try:
                return bool(httpx.get(base_url + "/health/ready", timeout=5).json()["live_events"])
            except (httpx.HTTPError, ValueError):
                return False

        wait_for(live, timeout=API_START_DEADLINE, what="the API's live events")
        yield base_url, server.pid


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- SSE clients ---------------------------------------------------------------------------


async def sse_lines(response: httpx.Response) -> AsyncIterator[tuple[str | None, str | None, str]]:
    """(id, event name, data) of each message of an open stream."""
    event: str | None = None
    cursor: str | None = None
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            cursor = line[3:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            yield cursor, event, line[5:].strip()
            event = cursor = None


async def follow(
    http: httpx.AsyncClient,
    path: str,
    on_message: Callable[[str], None],
    connected: asyncio.Event | None = None,
) -> None:
    """Follow a stream like EventSource does: reconnect with Last-Event-ID when it ends."""
    last_id: str | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        async with http.stream("GET", path, headers=headers) as response:
            response.raise_for_status()
            async for cursor, event, data in sse_lines(response):
                last_id = cursor or last_id
                if connected is not None:
                    connected.set()
                    connected = None
                if event is None:
                    on_message(data)
        await asyncio.sleep(0.1)  # the server ended the stream (this client fell behind)


async def run_clients(
    base_url: str, paths: list[str], dashboard: bool, ready_file: Path | None
) -> None:
    """The 'sse-clients' subcommand: streams (and a dashboard) until SIGTERM."""
    received = 0

    def count(_: str) -> None:
        nonlocal received
        received += 1

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    limits = httpx.Limits(max_connections=len(paths) + 10)
    async with httpx.AsyncClient(base_url=base_url, timeout=None, limits=limits) as http:
        connected = [asyncio.Event() for _ in paths]
        tasks = [
            asyncio.create_task(follow(http, path, count, event))
            for path, event in zip(paths, connected, strict=True)
        ]
        if dashboard:
            tasks.append(asyncio.create_task(_dashboard(http, stop)))
        await asyncio.gather(*(event.wait() for event in connected))
        if ready_file is not None:
            await asyncio.to_thread(ready_file.write_text, "ready")
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"sse-clients: {len(paths)} streams received {received} messages", flush=True)


async def _dashboard(http: httpx.AsyncClient, stop: asyncio.Event) -> None:
    """What an open dashboard tab costs: its stream, page refreshes, and a metrics scraper."""
    refresh_pages = asyncio.Event()

    def changed(_: str) -> None:
        refresh_pages.set()

    stream = asyncio.create_task(follow(http, "/events", changed))
    tick = 0
    try:
        while not stop.is_set():
            await asyncio.sleep(1)  # the page's JS refreshes at most once a second
            if refresh_pages.is_set():
                refresh_pages.clear()
                await http.get("/dashboard")
                await http.get("/dashboard/jobs")
            tick += 1
            if tick % 5 == 0:
                await http.get("/metrics")
    finally:
        stream.cancel()


@contextmanager
def sse_client_process(
    base_url: str, paths: list[str], dashboard: bool, tmp: Path
) -> Iterator[int]:
    """The clients in their own process, connected; yields its process id."""
    spec = tmp / f"paths-{uuid.uuid4().hex}.json"
    spec.write_text(json.dumps(paths))
    ready = tmp / f"ready-{uuid.uuid4().hex}"
    command = [
        sys.executable, "-m", "bench.observability", "sse-clients", "--url", base_url,
        "--paths-file", str(spec), "--ready-file", str(ready),
    ] + (["--dashboard"] if dashboard else [])  # fmt: skip
    with process(command) as clients:
        wait_for(ready.exists, timeout=120, what="the SSE clients to connect")
        yield clients.pid


# -- throughput ----------------------------------------------------------------------------


async def _defer(database_url: str, count: int, tag: str) -> list[int]:
    requests = [
        prepare(JobCreate(task="tools.run", args={"tool": tag, "input": {"n": n}}))
        for n in range(count)
    ]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        created = await defer_prepared(conn, requests, created_by="bench")
        await conn.commit()
    return [job.id for job in created]


def _succeeded(conn: psycopg.Connection[Any], first: int, last: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM procrastinate_jobs"
        " WHERE id BETWEEN %s AND %s AND status = 'succeeded'",
        [first, last],
    ).fetchone()
    assert row is not None
    return int(row[0])


def _round(database_url: str, jobs: int, tag: str) -> float:
    """Defer ``jobs`` jobs and return jobs/s until the (running, idle) worker finished them."""
    ids = asyncio.run(_defer(database_url, jobs, tag))
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while _succeeded(conn, ids[0], ids[-1]) < jobs:
            time.sleep(0.05)
    return jobs / (time.perf_counter() - started)


def _backend_pids(database_url: str) -> dict[str, list[int]]:
    """Postgres backend pids by application name (pgjobs: the API pool; -listener; -worker)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'pgjobs%%'"
        ).fetchall()
    found: dict[str, list[int]] = {}
    for name, pid in rows:
        found.setdefault("postgres for the worker" if "worker" in name else "postgres for the API",
                         []).append(pid)  # fmt: skip
    return found


class CpuMeter:
    """CPU seconds used by the processes of a run, per part (processes must stay alive)."""

    def __init__(self, parts: dict[str, list[int]]) -> None:
        self._parts = parts
        self._start = self._now()

    def _now(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for part, pids in self._parts.items():
            total = 0.0
            for pid in pids:
                with contextlib.suppress(FileNotFoundError):
                    total += cpu_seconds(pid)
            used[part] = total
        return used

    def used(self) -> dict[str, float]:
        now = self._now()
        return {part: now[part] - self._start[part] for part in now}


def bench_throughput(jobs: int, rounds: int, tmp: Path) -> None:
    loads = ("quiet", "watched", "firehose")
    rates: dict[str, list[float]] = {load: [] for load in loads}
    cpu: dict[str, dict[str, list[float]]] = {load: {} for load in loads}
    with scratch_database() as url, api_server(url) as (base_url, api_pid):
        worker = [sys.executable, "-m", "procrastinate", "--app=jobs.app", "worker",
                  "--concurrency", "10"]  # fmt: skip
        with process(worker, DATABASE_URL=url) as worker_process:
            _round(url, 200, "warm-up")
            for round_number in range(rounds):
                for load in loads:
                    tag = f"{load}-{round_number}"
                    parts = {"API process": [api_pid], "worker process": [worker_process.pid]}
                    if load == "quiet":
                        meter = CpuMeter({**parts, **_backend_pids(url)})
                        rate = _round(url, jobs, tag)
                        used = meter.used()
                    else:
                        # the watched jobs: 200 clients, one job each (or every job)
                        ids = asyncio.run(_defer(url, 200, f"watched-{tag}"))
                        paths = (
                            [f"/jobs/{job_id}/events" for job_id in ids]
                            if load == "watched"
                            else ["/events"] * 200
                        )
                        with sse_client_process(base_url, paths, True, tmp) as clients_pid:
                            meter = CpuMeter(
                                {**parts, **_backend_pids(url), "clients": [clients_pid]}
                            )
                            rate = _round(url, jobs, tag)
                            used = meter.used()
                    rates[load].append(rate)
                    for part, seconds in used.items():
                        cpu[load].setdefault(part, []).append(seconds / jobs * 1000)
                    print(f"  round {round_number + 1} {load:9s} {rate:7.0f} jobs/s", flush=True)
    quiet = statistics.median(rates["quiet"])
    print(f"throughput ({jobs} tools.run jobs per round, worker --concurrency 10), median:")
    for load in loads:
        rate = statistics.median(rates[load])
        print(f"  {load:9s} {rate:7.0f} jobs/s ({(rate - quiet) / quiet * 100:+.1f}% vs quiet)")
    print("CPU seconds per 1000 jobs, median (the part each load adds to the machine):")
    for load in loads:
        print(f"  {load:9s} " + ", ".join(
            f"{part} {statistics.median(values):.2f}" for part, values in sorted(cpu[load].items())
        ))  # fmt: skip


# -- latency -------------------------------------------------------------------------------


async def _probe(base_url: str, database_url: str, probes: int, events: int) -> list[float]:
    arrivals: dict[int, list[float]] = {}
    commits: dict[int, float] = {}

    def arrived(data: str) -> None:
        job_id = json.loads(data)["job_id"]
        arrivals.setdefault(job_id, []).append(time.time())

    async with httpx.AsyncClient(base_url=base_url, timeout=None) as http:
        connected = [asyncio.Event() for _ in range(probes)]
        tasks = [
            asyncio.create_task(follow(http, "/events?queue=tools", arrived, event))
            for event in connected
        ]
        await asyncio.gather(*(event.wait() for event in connected))
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            request = prepare(JobCreate(task="tools.run", args={"tool": "latency"}))
            for _ in range(events):
                (job,) = await defer_prepared(conn, [request], created_by="bench")
                await conn.commit()
                commits[job.id] = time.time()
                await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [
        arrival - committed
        for job_id, committed in commits.items()
        for arrival in arrivals.get(job_id, [])
    ]


def bench_latency(clients: int, events: int, tmp: Path) -> None:
    probes = min(5, clients)
    with scratch_database() as url, api_server(url) as (base_url, _):
        others = ["/events"] * (clients - probes)
        with (
            sse_client_process(base_url, others, dashboard=False, tmp=tmp) if others else _nothing()
        ):
            latencies = asyncio.run(_probe(base_url, url, probes, events))
    p50, p99 = quantile(latencies, 0.5) * 1000, quantile(latencies, 0.99) * 1000
    print(
        f"SSE delivery, commit -> client, {clients} clients connected to one API process "
        f"({len(latencies)} deliveries to {probes} probes): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


@contextmanager
def _nothing() -> Iterator[int]:
    yield 0


# -- queries at scale ----------------------------------------------------------------------

FILL = """
-- bulk data: no per-row triggers, FK checks or NOTIFY
SET session_replication_role = replica;
INSERT INTO procrastinate_jobs (id, queue_name, task_name, args, status, attempts)
SELECT n,
       (ARRAY['llm', 'video', 'tools', 'agents', 'maintenance'])[1 + n %% 5],
       (ARRAY['llm.generate', 'video.transcode', 'tools.run', 'agents.run',
              'stats.hourly'])[1 + n %% 5],
       jsonb_build_object('prompt', 'job number ' || n, 'tool', 't' || (n %% 1000)),
       (CASE WHEN n > %(jobs)s - %(jobs)s / 50 THEN 'todo'
             WHEN n %% 25 = 0 THEN 'failed'
             WHEN n %% 50 = 1 THEN 'cancelled'
             WHEN n %% 200 = 3 THEN 'aborted'
             ELSE 'succeeded' END)::procrastinate_job_status,
       1
  FROM generate_series(1, %(jobs)s) n;
SELECT setval('procrastinate_jobs_id_seq', %(jobs)s);
INSERT INTO pgjobs_jobs (job_id, created_at, created_by)
SELECT n, now() - make_interval(secs => (%(jobs)s - n) * 0.5), 'bench'
  FROM generate_series(1, %(jobs)s) n;
INSERT INTO procrastinate_events (job_id, type, at)
SELECT job.id, kind.type::procrastinate_job_event_type,
       now() - make_interval(secs => (%(jobs)s - job.id) * 0.5 - kind.offset_seconds)
  FROM procrastinate_jobs job
 CROSS JOIN LATERAL (VALUES ('deferred', 0.0), ('started', 0.2), (job.status::text, 1.5))
       AS kind(type, offset_seconds)
 WHERE kind.type <> 'todo'
   AND NOT (job.status IN ('todo', 'cancelled') AND kind.type = 'started')
 ORDER BY job.id, kind.offset_seconds;
SET session_replication_role = DEFAULT;
"""


async def _time(call: Callable[[], Awaitable[Any]], runs: int = 20) -> tuple[float, float]:
    await call()  # warm
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), quantile(durations, 0.95)


async def _queries(url: str, jobs: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for statement in FILL.split(";\n"):
            if statement.strip():
                await conn.execute(statement, {"jobs": jobs} if "%(jobs)s" in statement else None)
        await conn.execute("VACUUM ANALYZE procrastinate_jobs, procrastinate_events, pgjobs_jobs")
        print(f"filled {jobs} jobs in {time.perf_counter() - started:.0f}s")
        middle = jobs // 2

        def page(before: int | None = None, **filters: Any) -> Callable[[], Awaitable[Any]]:
            return lambda: query_jobs(conn, JobFilter(**filters), cursor=before, limit=50)

        store = observability_store

        def replay() -> Awaitable[Any]:
            return store.event_list_after(conn, jobs, queue=None, task=None, limit=500)

        def totals() -> Awaitable[Any]:
            return store.job_count_by_queue_and_status(conn)

        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("list: newest page, no filter", page()),
            ("list: state=failed", page(statuses=frozenset({JobStatus.FAILED}))),
            ("list: state=aborted (rare)", page(statuses=frozenset({JobStatus.ABORTED}))),
            ("list: state=todo (partial index)", page(statuses=frozenset({JobStatus.TODO}))),
            ("list: queue=llm task=llm.generate", page(queue="llm", task="llm.generate")),
            ("list: text in args (no match)", page(text="no such text")),
            (
                "list: mid-table, failed in tools",
                page(middle, statuses=frozenset({JobStatus.FAILED}), queue="tools"),
            ),
            ("overview: queued/running by queue", lambda: store.job_count_active_by_queue(conn)),
            ("overview: queue lag (20k runnable)", lambda: store.queue_lag_list(conn)),
            ("overview: finished per minute, 1 h", lambda: store.job_finished_by_minute(conn, 60)),
            ("totals by state (cached: full scan)", totals),
            ("SSE replay page (500 events)", replay),
        ]  # fmt: skip
        print(f"queries at {jobs} jobs ({jobs * 3 // 1000}k events), median / p95 of 20 runs:")
        for name, call in cases:
            median, p95 = await _time(call)
            print(f"  {name:40s} {median * 1000:7.1f} ms / {p95 * 1000:7.1f} ms")


def bench_queries(jobs: int) -> None:
    with scratch_database() as url:
        asyncio.run(_queries(url, jobs))


# -- entry point ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    throughput = commands.add_parser("throughput")
    throughput.add_argument("--jobs", type=int, default=3000)
    throughput.add_argument("--rounds", type=int, default=3)
    latency = commands.add_parser("latency")
    latency.add_argument("--clients", type=int, default=200)
    latency.add_argument("--events", type=int, default=200)
    queries = commands.add_parser("queries")
    queries.add_argument("--jobs", type=int, default=1_000_000)
    commands.add_parser("all")
    clients = commands.add_parser("sse-clients", help="(internal) streams until SIGTERM")
    clients.add_argument("--url", required=True)
    clients.add_argument("--paths-file", type=Path, required=True)
    clients.add_argument("--ready-file", type=Path, default=None)
    clients.add_argument("--dashboard", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.gettempdir())
    if args.command == "sse-clients":
        paths = json.loads(args.paths_file.read_text())
        asyncio.run(run_clients(args.url, paths, args.dashboard, args.ready_file))
    elif args.command == "throughput":
        bench_throughput(args.jobs, args.rounds, tmp)
    elif args.command == "latency":
        bench_latency(args.clients, args.events, tmp)
    elif args.command == "queries":
        bench_queries(args.jobs)
    else:
        bench_latency(1, 100, tmp)
        bench_latency(200, 200, tmp)
        bench_throughput(3000, 3, tmp)
        bench_queries(1_000_000)


if __name__ == "__main__":
    main()
