"""POST/GET /jobs, listing, cancel, retry and every bad-input answer, against a real Postgres."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.factories import make_job
from tests.integration.helpers import count

Conn = psycopg.AsyncConnection[Any]

README = Path(__file__).resolve().parents[3] / "README.md"


async def test_create_then_get(client: httpx.AsyncClient, conn: Conn) -> None:
    response = await client.post(
        "/jobs", json={"task": "llm.generate", "args": {"prompt": "hi"}, "priority": 5}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/jobs/{created['id']}"
    assert created["status"] == "todo"
    assert created["queue"] == "llm"  # the task's default queue
    assert created["args"] == {"prompt": "hi", "max_tokens": 64, "seconds_per_token": 0.0}

    fetched = (await client.get(f"/jobs/{created['id']}")).json()
    assert fetched["status"] == "todo"
    assert fetched["priority"] == 5
    assert fetched["created_by"] == "api"
    assert [event["type"] for event in fetched["events"]] == ["deferred"]
    assert await count(conn, "procrastinate_jobs") == 1
    assert await count(conn, "pgjobs_jobs") == 1


async def test_create_with_queue_schedule_and_locks(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/jobs",
        json={
            "task": "tools.run",
            "args": {"tool": "grep"},
            "queue": "urgent",
            "schedule_in": 3600,
            "lock": "repo-1",
            "queueing_lock": "grep-repo-1",
        },
    )
    assert response.status_code == 201, response.text
    job = (await client.get(f"/jobs/{response.json()['id']}")).json()
    assert job["queue"] == "urgent"
    assert job["lock"] == "repo-1"
    assert job["queueing_lock"] == "grep-repo-1"
    scheduled = datetime.datetime.fromisoformat(job["scheduled_at"])
    assert scheduled > datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=59)
    assert "scheduled" in [event["type"] for event in job["events"]]

    again = await client.post(
        "/jobs",
        json={"task": "tools.run", "args": {"tool": "grep"}, "queueing_lock": "grep-repo-1"},
    )
    assert again.status_code == 409
    assert again.json()["error"] == "already_enqueued"


async def test_unknown_task_is_422_listing_valid_tasks(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    response = await client.post("/jobs", json={"task": "nope", "args": {}})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "unknown_task"
    assert "nope" in body["message"]
    assert body["detail"][0]["loc"] == ["body", "task"]
    assert "llm.generate" in body["detail"][0]["valid"]
    assert await count(conn, "procrastinate_jobs") == 0


async def test_invalid_arguments_are_422_with_field_errors(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    response = await client.post(
        "/jobs", json={"task": "llm.generate", "args": {"prompt": "", "max_tokens": 0, "x": 1}}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_arguments"
    locations = {tuple(item["loc"]) for item in body["detail"]}
    assert locations == {
        ("body", "args", "prompt"),
        ("body", "args", "max_tokens"),
        ("body", "args", "x"),
    }
    assert await count(conn, "procrastinate_jobs") == 0


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/jobs", content=b'{"task": "llm.generate", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_bad_options_are_422_naming_the_field(client: httpx.AsyncClient, conn: Conn) -> None:
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).isoformat()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"schedule_in": -5}, "schedule_in"),
        ({"schedule_at": past}, "schedule_at"),
        ({"schedule_at": "2030-01-01T00:00:00"}, "schedule_at"),  # no time zone
        ({"priority": 10_000}, "priority"),
        ({"queue": "has spaces"}, "queue"),
        ({"unexpected": 1}, "unexpected"),
    ]
    for extra, field in cases:
        response = await client.post(
            "/jobs", json={"task": "tools.run", "args": {"tool": "t"}, **extra}
        )
        assert response.status_code == 422, (extra, response.text)
        assert field in [item["loc"][-1] for item in response.json()["detail"]], response.text
    assert await count(conn, "procrastinate_jobs") == 0


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, conn: Conn) -> None:
    big = {"task": "llm.generate", "args": {"prompt": "x" * (1024 * 1024 + 10)}}
    response = await client.post("/jobs", json=big)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"

    async def chunks() -> Any:  # no Content-Length: counted as it streams
        yield b'{"task": "llm.generate", "args": {"prompt": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}}'

    streamed = await client.post(
        "/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert await count(conn, "procrastinate_jobs") == 0


async def test_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/jobs/424242"),
        await client.post("/jobs/424242/cancel"),
        await client.post("/jobs/424242/retry"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "job_not_found"


async def test_cancel_queued_job(client: httpx.AsyncClient) -> None:
    created = (await client.post("/jobs", json={"task": "tools.run", "args": {"tool": "t"}})).json()
    response = await client.post(f"/jobs/{created['id']}/cancel")
    assert response.status_code == 200
    job = response.json()
    assert job["status"] == "cancelled"
    assert job["cancellation"]["requested_by"] == "api"
    assert [event["type"] for event in job["events"]][-1] == "cancelled"


async def test_cancel_running_job_requests_abort(client: httpx.AsyncClient, conn: Conn) -> None:
    job = await make_job(conn, status="doing")
    response = await client.post(f"/jobs/{job.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "doing"
    assert response.json()["abort_requested"] is True
    assert "abort_requested" in [event["type"] for event in response.json()["events"]]


async def test_cancel_finished_job_is_409_and_changes_nothing(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    job = await make_job(conn, status="succeeded")
    response = await client.post(f"/jobs/{job.id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"] == "illegal_transition"
    assert (await client.get(f"/jobs/{job.id}")).json()["status"] == "succeeded"


async def test_retry_failed_and_cancelled_jobs(client: httpx.AsyncClient, conn: Conn) -> None:
    for status in ("failed", "cancelled", "aborted"):
        job = await make_job(conn, status=status)
        response = await client.post(f"/jobs/{job.id}/retry")
        assert response.status_code == 200, (status, response.text)
        assert response.json()["status"] == "todo"
        assert [event["type"] for event in response.json()["events"]][-1] == "retried"


async def test_retry_of_queued_or_succeeded_job_is_409(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    for status in ("todo", "doing", "succeeded"):
        job = await make_job(conn, status=status)
        response = await client.post(f"/jobs/{job.id}/retry")
        assert response.status_code == 409, status


async def test_list_filters_and_keyset_pagination(client: httpx.AsyncClient, conn: Conn) -> None:
    ids = [(await make_job(conn, "tools.run", {"tool": str(n)})).id for n in range(5)]
    llm = await make_job(conn, "llm.generate", {"prompt": "p"})
    failed = await make_job(conn, status="failed")

    page = (await client.get("/jobs", params={"limit": 3})).json()
    assert [item["id"] for item in page["items"]] == [failed.id, llm.id, ids[4]]
    second = (await client.get("/jobs", params={"limit": 3, "cursor": page["next_cursor"]})).json()
    assert [item["id"] for item in second["items"]] == [ids[3], ids[2], ids[1]]
    last = (await client.get("/jobs", params={"limit": 3, "cursor": second["next_cursor"]})).json()
    assert [item["id"] for item in last["items"]] == [ids[0]]
    assert last["next_cursor"] is None

    by_task = (await client.get("/jobs", params={"task": "llm.generate"})).json()
    assert [item["id"] for item in by_task["items"]] == [llm.id]
    by_queue = (await client.get("/jobs", params={"queue": "llm"})).json()
    assert [item["id"] for item in by_queue["items"]] == [llm.id]
    by_status = (
        await client.get("/jobs", params=[("status", "failed"), ("status", "cancelled")])
    ).json()
    assert [item["id"] for item in by_status["items"]] == [failed.id]
    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).isoformat()
    assert (await client.get("/jobs", params={"created_after": future})).json()["items"] == []
    everything = (await client.get("/jobs", params={"created_before": future})).json()
    assert len(everything["items"]) == 7

    bad = await client.get("/jobs", params={"status": "sleeping"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "status", 0]
    for params, field in (
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "0"}, "cursor"),
        ({"text": "x" * 201}, "text"),
        ({"created_after": "2024-01-01T00:00:00"}, "created_after"),  # no time zone
    ):
        refused = await client.get("/jobs", params=params)
        assert refused.status_code == 422, params
        assert refused.json()["detail"][0]["loc"][:2] == ["query", field], refused.json()


def _dashboard_ids(html: str) -> list[int]:
    return [int(part.split('"')[0]) for part in html.split('data-job-id="')[1:]]


async def test_the_api_and_the_dashboard_list_the_same_jobs_for_the_same_parameters(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    await make_job(conn, "tools.run", {"tool": "needle-1"}, status="failed")
    await make_job(conn, "tools.run", {"tool": "hay"})
    await make_job(conn, "llm.generate", {"prompt": "needle-2"}, status="succeeded")
    cursor = await conn.execute(  # as procrastinate's periodic deferrer: no pgjobs record
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
        " VALUES ('pgjobs.maintenance', 'stats.hourly', '{}') RETURNING id"
    )
    periodic = await cursor.fetchone()
    assert periodic is not None
    queries: list[Any] = [
        {},
        {"status": "failed"},
        [("status", "todo"), ("status", "succeeded")],
        {"task": "tools.run", "text": "NEEDLE"},
        {"queue": "llm"},
        {"maintenance": "true"},
        {"status": "", "queue": "", "task": "", "text": "", "cursor": ""},  # a form's "any"
    ]
    for params in queries:
        api = await client.get("/jobs", params=params)
        page = await client.get("/dashboard/jobs", params=params)
        assert (api.status_code, page.status_code) == (200, 200), params
        assert [item["id"] for item in api.json()["items"]] == _dashboard_ids(page.text), params
    everything = await client.get("/jobs", params={"maintenance": "true"})
    listed = {item["id"]: item for item in everything.json()["items"]}
    read = (await client.get(f"/jobs/{periodic[0]}")).json()
    assert listed[periodic[0]]["created_at"] == read["created_at"] is not None


async def test_tasks_publish_argument_schemas(client: httpx.AsyncClient) -> None:
    tasks = {task["name"]: task for task in (await client.get("/tasks")).json()}
    assert {"llm.generate", "video.transcode", "tools.run", "agents.run"} <= set(tasks)
    schema = tasks["llm.generate"]["args_schema"]
    assert schema["required"] == ["prompt"]
    assert schema["properties"]["max_tokens"]["maximum"] == 4096
    assert tasks["stats.hourly"]["cron"] == "0 * * * *"


async def test_openapi_publishes_the_create_body(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "JobCreate" in spec["components"]["schemas"]


async def test_health_reports_database_schema_and_workers(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    body = (await client.get("/health")).json()
    assert body["database"]["at_head"] is True
    assert body["status"] == "degraded"  # no worker yet
    await conn.execute("SELECT procrastinate_register_worker_v1()")
    healthy = await client.get("/health/ready")  # /health reports the last check; this runs it
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "ok"
    assert healthy.json()["workers"]["alive"] == 1

    await conn.execute("UPDATE alembic_version SET version_num = 'procrastinate_03_04_00_50'")
    stale = await client.get("/health/ready")
    assert stale.status_code == 503
    assert "pgjobs migrate" in stale.json()["problems"][0]
    assert (await client.get("/health")).status_code == 200  # liveness: the process is up


async def test_docs_are_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = (await client.get(page)).text
        assert f"/docs/static/{asset}" in html
        assert "cdn." not in html
        served = await client.get(f"/docs/static/{asset}")
        assert served.status_code == 200
        assert len(served.content) > 100_000


async def test_the_readme_shows_the_body_a_user_gets(client: httpx.AsyncClient) -> None:
    """README's first example: the 201's body as the API writes it (compact JSON)."""
    readme = README.read_text()
    start = readme.index("# the 201's body: ") + len("# the 201's body: ")
    shown = readme[start : readme.index("...}", start)]
    shown = shown.replace("\n#   ", "")
    created = await client.post(
        "/jobs", json={"task": "llm.generate", "args": {"prompt": "Write a haiku about queues"}}
    )
    body = created.text
    job_id = created.json()["id"]
    assert body.startswith(shown.replace('"id":3', f'"id":{job_id}')), (shown, body)


async def test_maintenance_jobs_are_left_out_unless_asked_for(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    mine = await make_job(conn, "tools.run", {"tool": "t"})
    rescue = await make_job(conn, "pgjobs.rescue_stalled_jobs", {}, status="succeeded")

    async def ids(**params: Any) -> list[int]:
        page = (await client.get("/jobs", params=params)).json()
        return [item["id"] for item in page["items"]]

    assert await ids() == [mine.id]
    assert await ids(maintenance="true") == [rescue.id, mine.id]
    assert await ids(queue="pgjobs.maintenance") == [rescue.id]
    assert await ids(task="pgjobs.rescue_stalled_jobs") == [rescue.id]
    dashboard = (await client.get("/dashboard/jobs")).text
    assert f'data-job-id="{mine.id}"' in dashboard
    assert f'data-job-id="{rescue.id}"' not in dashboard
    shown = (await client.get("/dashboard/jobs", params={"maintenance": "true"})).text
    assert f'data-job-id="{rescue.id}"' in shown


async def test_a_job_running_again_shows_no_earlier_finish_or_error(
    client: httpx.AsyncClient, conn: Conn
) -> None:
    job = await make_job(conn, "tools.run", {"tool": "t"}, status="failed")
    await conn.execute(
        "UPDATE pgjobs_jobs SET error_type = 'TransientToolError', error_message = 'flaky'"
        " WHERE job_id = %s",
        [job.id],
    )
    failed = (await client.get(f"/jobs/{job.id}")).json()
    assert failed["finished_at"] is not None
    assert failed["error"]["message"] == "flaky"
    assert (await client.post(f"/jobs/{job.id}/retry")).status_code == 200
    waiting = (await client.get(f"/jobs/{job.id}")).json()
    assert waiting["status"] == "todo"
    assert waiting["finished_at"] is None  # not finished: the earlier finish is history
    assert waiting["error"]["message"] == "flaky"  # why it is waiting to run again
    await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", [job.id]
    )  # a worker took it again
    running = (await client.get(f"/jobs/{job.id}")).json()
    assert (running["finished_at"], running["error"]) == (None, None)
    (summary,) = (await client.get("/jobs", params={"status": "doing"})).json()["items"]
    assert summary["error"] is None
    page = (await client.get(f"/dashboard/jobs/{job.id}")).text
    assert 'class="error-title"' not in page  # no current error on the running job's page
