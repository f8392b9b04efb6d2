"""GET /schedules: periodic tasks with their next ticks and the last tick a worker deferred."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import httpx
import psycopg
from procrastinate.periodic import PeriodicDeferrer

from jobs.settings import Settings
from jobs.worker.app import build_app

Conn = psycopg.AsyncConnection[Any]


async def _schedules(client: httpx.AsyncClient, **params: Any) -> dict[str, dict[str, Any]]:
    response = await client.get("/schedules", params=params)
    assert response.status_code == 200, response.text
    return {item["task"]: item for item in response.json()}


async def test_schedules_list_cron_queue_and_next_runs(client: httpx.AsyncClient) -> None:
    before = datetime.datetime.now(datetime.UTC)
    hourly = (await _schedules(client, next_runs=4))["stats.hourly"]
    assert hourly["cron"] == "0 * * * *"
    assert hourly["queue"] == "maintenance"
    assert hourly["periodic_id"] == "stats.hourly"
    assert hourly["last_run"] is None
    runs = [datetime.datetime.fromisoformat(run) for run in hourly["next_runs"]]
    assert len(runs) == 4
    assert before < runs[0] <= before + datetime.timedelta(hours=1)
    assert all((run.minute, run.second) == (0, 0) for run in runs)
    assert [later - earlier for earlier, later in itertools.pairwise(runs)] == [
        datetime.timedelta(hours=1)
    ] * 3
    daily = (await _schedules(client))["maintenance.daily_cleanup"]
    assert daily["cron"] == "0 3 * * *"
    assert [datetime.datetime.fromisoformat(run).hour for run in daily["next_runs"]] == [3] * 3


async def test_last_run_is_the_tick_a_worker_deferred_once(
    client: httpx.AsyncClient, conn: Conn, settings: Settings
) -> None:
    tick = int(datetime.datetime.now(datetime.UTC).replace(minute=0, second=0).timestamp())
    # two workers' deferrers trying the same tick: procrastinate's unique key keeps one
    for _ in range(2):
        app = build_app(settings)
        async with app.open_async():
            periodic = app.periodic_registry.periodic_tasks[("stats.hourly", "stats.hourly")]
            await PeriodicDeferrer(registry=app.periodic_registry).defer_jobs([(periodic, tick)])
    cursor = await conn.execute(
        "SELECT id FROM procrastinate_jobs WHERE task_name = 'stats.hourly'"
    )
    (job_id,) = [row[0] for row in await cursor.fetchall()]
    last_run = (await _schedules(client))["stats.hourly"]["last_run"]
    assert datetime.datetime.fromisoformat(last_run["tick"]).timestamp() == tick
    assert (last_run["job_id"], last_run["status"]) == (job_id, "todo")


async def test_next_runs_out_of_range_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/schedules", params={"next_runs": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "next_runs"]
