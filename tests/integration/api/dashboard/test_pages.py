"""The dashboard's pages render what the database holds; its queries use indexes at scale."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import BaseModel

from api.app import create_app
from db.queries import query
from jobs.settings import Settings
from jobs.tasks.registry import TaskRegistry
from tests import byot
from tests.factories import make_job
from tests.integration.live_server import uncached

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app, reading the database at every page (no cached figures) for exact assertions."""
    app = create_app(uncached(settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pgjobs.test") as http:
            yield http


async def test_overview_counts_and_chart(client: httpx.AsyncClient, conn: Conn) -> None:
    for status in ("todo", "succeeded", "succeeded", "failed"):
        await make_job(conn, "tools.run", {"tool": "t"}, status=status)
    page = await client.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert 'data-count="succeeded">2<' in html
    assert 'data-count="failed">1<' in html
    assert 'data-count="todo">1<' in html
    assert "2 succeeded · 1 failed or aborted" in html  # the chart's last hour
    assert 'data-stream="/events"' in html


async def test_job_list_filters_by_state_queue_task_and_argument_text(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    wanted = await make_job(conn, "tools.run", {"tool": "needle-7"}, status="failed")
    await make_job(conn, "tools.run", {"tool": "hay"}, status="failed")
    await make_job(conn, "tools.run", {"tool": "needle-8"}, status="succeeded")
    await make_job(conn, "llm.generate", {"prompt": "needle"})

    page = await client.get(
        "/dashboard/jobs", params={"status": "failed", "task": "tools.run", "text": "NEEDLE"}
    )
    assert page.status_code == 200
    assert [int(part.split('"')[0]) for part in page.text.split('data-job-id="')[1:]] == [wanted.id]
    everything = await client.get("/dashboard/jobs")
    assert everything.text.count('data-job-id="') == 4


async def test_job_page_shows_error_timeline_and_the_right_actions(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    failed = await make_job(conn, "tools.run", {"tool": "t"}, status="failed")
    await conn.execute(
        "INSERT INTO pgjobs_attempts (job_id, attempt, started_at, finished_at, outcome,"
        " error_type, error_message, error_traceback)"
        " VALUES (%s, 1, now(), now(), 'failed', 'ToolError', 'boom', 'Traceback: line 1')",
        [failed.id],
    )
    await conn.execute(
        "UPDATE pgjobs_jobs SET error_type = 'ToolError', error_message = 'boom',"
        " error_traceback = 'Traceback: line 1' WHERE job_id = %s",
        [failed.id],
    )
    queued = await make_job(conn, "tools.run", {"tool": "t"})

    failed_page = (await client.get(f"/dashboard/jobs/{failed.id}")).text
    assert "Traceback: line 1" in failed_page
    assert f'data-post="/jobs/{failed.id}/retry"' in failed_page
    assert "/cancel" not in failed_page
    for event in ("deferred", "started", "failed"):
        assert f'class="event-{event}"' in failed_page
    assert f'data-stream="/jobs/{failed.id}/events?since=' in failed_page

    queued_page = (await client.get(f"/dashboard/jobs/{queued.id}")).text
    assert f'data-post="/jobs/{queued.id}/cancel"' in queued_page
    assert "/retry" not in queued_page

    missing = await client.get("/dashboard/jobs/999999")
    assert missing.status_code == 404
    assert "not found" in missing.text


async def test_queues_workers_schedules_and_dead_letters_pages(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    await make_job(conn, "llm.generate", {"prompt": "p"}, status="doing")
    dead = await make_job(conn, "tools.run", {"tool": "t"}, status="failed")
    await conn.execute("SELECT procrastinate_register_worker_v1()")
    await conn.execute(
        "UPDATE procrastinate_jobs SET worker_id = (SELECT max(id) FROM procrastinate_workers)"
        " WHERE status = 'doing'"
    )

    queues = (await client.get("/dashboard/queues")).text
    assert 'href="/dashboard/jobs?queue=llm"' in queues
    workers = (await client.get("/dashboard/workers")).text
    assert "alive" in workers
    assert "llm.generate" in workers
    schedules = (await client.get("/dashboard/schedules")).text
    assert "stats.hourly" in schedules
    assert "<code>0 * * * *</code>" in schedules
    letters = (await client.get("/dashboard/dead-letters")).text
    assert f'name="dead-letter" value="{dead.id}"' in letters
    assert "data-bulk-retry" in letters
    static = await client.get("/dashboard/static/dashboard.js")
    assert static.status_code == 200
    assert "EventSource" in static.text


FILL = """
SET session_replication_role = replica;  -- bulk test data: no per-row triggers or NOTIFY
INSERT INTO procrastinate_jobs (id, queue_name, task_name, args, status, attempts)
SELECT n, (ARRAY['llm', 'video', 'tools', 'agents'])[1 + n % 4],
       (ARRAY['llm.generate', 'video.transcode', 'tools.run', 'agents.run'])[1 + n % 4],
       jsonb_build_object('tool', 'tool-' || n),
       (CASE WHEN n > 98000 THEN 'todo' WHEN n % 20 = 0 THEN 'failed'
             ELSE 'succeeded' END)::procrastinate_job_status,
       1
  FROM generate_series(1, 100000) n;
SELECT setval('procrastinate_jobs_id_seq', 100000);
INSERT INTO pgjobs_jobs (job_id, created_at) SELECT n, now() FROM generate_series(1, 100000) n;
INSERT INTO procrastinate_events (job_id, type, at)
SELECT n, kind::procrastinate_job_event_type, now() - (100000 - n) * interval '1 second'
  FROM generate_series(1, 100000) n, unnest(ARRAY['deferred', 'started', 'succeeded']) kind;
SET session_replication_role = DEFAULT;
ANALYZE procrastinate_jobs, procrastinate_events, pgjobs_jobs;
"""


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(node type, relation) of every scan node of an EXPLAIN (FORMAT JSON) plan."""
    found = []
    if "Relation Name" in plan:
        found.append((plan["Node Type"], plan["Relation Name"]))
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


#: The dashboard's and live events' queries, with parameters as the app sends them.
HOT_QUERIES: list[tuple[str, dict[str, Any]]] = [
    (
        "job_query",
        {"before_id": None, "scan_limit": 10000, "limit": 51, "statuses": ["failed"],
         "queue": "tools", "task": "tools.run", "text": "tool-7", "created_after": None,
         "created_before": None, "hidden_queues": None},
    ),
    (
        "job_query",
        {"before_id": 5000, "scan_limit": 10000, "limit": 51, "statuses": None,
         "queue": None, "task": None, "text": None, "created_after": "2020-01-01T00:00:00Z",
         "created_before": None, "hidden_queues": ["pgjobs.maintenance"]},
    ),
    (
        "job_query_active",
        {"before_id": None, "scan_limit": 10000, "limit": 51, "statuses": ["todo"],
         "queue": "llm", "task": None, "text": None, "created_after": None,
         "created_before": "2100-01-01T00:00:00Z", "hidden_queues": ["pgjobs.maintenance"]},
    ),
    ("job_query_window", {"before_id": 90000, "scan_limit": 10000}),
    ("job_query_window_active", {"before_id": None, "scan_limit": 10000}),
    ("event_list_after", {"after_id": 250000, "queue": "llm", "task": None, "limit": 500}),
    ("event_list_for_job_after", {"job_id": 500, "after_id": 0, "limit": 500}),
    ("event_list_tail", {"after_id": 250000, "up_to_id": 300000, "limit": 5000}),
    ("event_list_history", {"job_ids": [5, 500, 5000], "before_id": 300000}),
    ("job_finished_by_minute", {"minutes": 60}),
    ("queue_lag_list", {}),
    ("job_count_active_by_queue", {}),
    ("progress_list_running", {"job_id": None, "queue": "llm", "task": None, "limit": 1000}),
    ("worker_list_with_jobs", {}),
]  # fmt: skip


async def test_dashboard_and_live_queries_never_seq_scan_the_big_tables(conn: Conn) -> None:
    await conn.execute(FILL)
    seq_scans = []
    for name, params in HOT_QUERIES:
        cursor = await conn.execute("EXPLAIN (FORMAT JSON) " + query(name), params)
        row = await cursor.fetchone()
        assert row is not None
        plan = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]["Plan"]
        scans = _scans(plan)
        assert scans, name
        seq_scans += [
            f"{name}: {node} on {relation}"
            for node, relation in scans
            if node == "Seq Scan" and relation in ("procrastinate_jobs", "procrastinate_events")
        ]
    assert seq_scans == []


async def test_tasks_page_shows_where_tasks_run_and_a_rolling_deploy(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    class ResizeV2(BaseModel):
        url: str
        height: int

    next_version = TaskRegistry()
    next_version.task(name="byot.resize", args=ResizeV2, queue="byot-images")(byot.resize)
    await byot.publish(conn, byot.REGISTRY, "old-host")
    await byot.publish(conn, next_version, "new-host")
    page = (await client.get("/dashboard/tasks")).text
    row = page[page.index('data-task="byot.resize"') :]
    row = row[: row.index("</tr>")]
    assert "2 schema versions live" in row
    assert "old-host" in row
    assert "new-host" in row
    assert "2 live" in row
    demo = page[page.index('data-task="llm.generate"') :]
    assert "model" in demo[: demo.index("</tr>")]


BACKLOG = """
SET session_replication_role = replica;  -- bulk test data: no per-row triggers or NOTIFY
INSERT INTO procrastinate_jobs (queue_name, task_name, args, priority, status)
SELECT (ARRAY['llm', 'video', 'tools', 'agents'])[1 + n % 4], 'tools.run', '{}', n % 3,
       (CASE WHEN n % 100 = 0 THEN 'succeeded' ELSE 'todo' END)::procrastinate_job_status
  FROM generate_series(1, 1000000) n;
INSERT INTO pgjobs_jobs (job_id) SELECT id FROM procrastinate_jobs;
SET session_replication_role = DEFAULT;
ANALYZE procrastinate_jobs, pgjobs_jobs;
"""


def _buffers(plan: dict[str, Any]) -> int:
    """Shared buffers a plan touched, including what functions it called ran."""
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


async def test_the_worker_engine_claims_and_completes_from_a_million_job_backlog_by_index(
    conn: Conn,
) -> None:
    """The claim is a plpgsql function: EXPLAIN shows only a function scan, so the test
    runs it (EXPLAIN ANALYZE, BUFFERS counts what its statements read) and bounds the
    pages touched. A sequential scan of the backlog reads thousands."""
    await conn.execute(BACKLOG)
    worker = await (await conn.execute("SELECT procrastinate_register_worker_v1()")).fetchone()
    assert worker is not None
    # a first call plans the function's statements (catalog reads); the plan is then kept
    await conn.execute(query("job_claim"), {"queues": None, "worker_id": worker[0], "max_jobs": 1})
    cursor = await conn.execute("SELECT pg_relation_size('procrastinate_jobs') / 8192")
    pages = await cursor.fetchone()
    assert pages is not None
    # A scan of the backlog reads every page of the table (10,000+); by index, claiming or
    # completing a job reads a few dozen pages (B-tree descents, event and attempt rows).
    per_job = 100
    assert pages[0] > 100 * per_job
    for queues in (None, ["tools"]):
        cursor = await conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query("job_claim"),
            {"queues": queues, "worker_id": worker[0], "max_jobs": 10},
        )
        row = await cursor.fetchone()
        assert row is not None
        plan = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]["Plan"]
        assert plan["Actual Rows"] == 10, queues
        assert _buffers(plan) < 10 * per_job, (queues, _buffers(plan))
    # completing them: primary-key lookups
    cursor = await conn.execute(
        "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND worker_id = %s", [worker[0]]
    )
    outcomes = [
        {"job_id": job_id, "attempt": 1, "status": "succeeded", "outcome": "succeeded"}
        for (job_id,) in await cursor.fetchall()
    ]
    assert len(outcomes) == 21  # the first claim (1) and the two measured (10 each)
    await conn.execute(query("job_complete"), {"worker_id": worker[0], "outcomes": "[]"})  # plans
    cursor = await conn.execute(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query("job_complete"),
        {"worker_id": worker[0], "outcomes": json.dumps(outcomes)},
    )
    row = await cursor.fetchone()
    assert row is not None
    plan = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]["Plan"]
    assert plan["Actual Rows"] == 21
    assert _buffers(plan) < 21 * per_job, _buffers(plan)
    # the rescue's check, every 10 s on a healthy system, reads no backlog either
    cursor = await conn.execute(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query("rescue_needed"), {"stalled_after": 30}
    )
    row = await cursor.fetchone()
    assert row is not None
    plan = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]["Plan"]
    assert _buffers(plan) < per_job, _buffers(plan)
