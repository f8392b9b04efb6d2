"""The task catalog: workers publish their tasks; an API that does not import them accepts,
validates (JSON Schema) and lists them, and shows two deployed versions of one task."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from api.app import create_app
from jobs.control.catalog import TaskCatalog, TaskDirectory
from jobs.settings import Settings
from jobs.tasks.catalog import schema_hash
from jobs.tasks.registry import TaskRegistry
from tests import byot
from tests.integration.helpers import run_worker_until

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def bare_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API process that imports no task module (only pgjobs' maintenance tasks)."""
    application: FastAPI = create_app(settings, tasks_registry=TaskRegistry())
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def catalog_rows(conn: Conn, task: str) -> list[tuple[str, str, list[str] | None]]:
    cursor = await conn.execute(
        "SELECT process_kind, schema_hash, worker_queues FROM pgjobs_task_catalog"
        " WHERE task_name = %s ORDER BY process_kind",
        [task],
    )
    return await cursor.fetchall()


async def test_a_running_worker_publishes_its_tasks_and_queues(
    conn: Conn, settings: Settings
) -> None:
    async def published() -> bool:
        return bool(await catalog_rows(conn, "byot.resize"))

    await run_worker_until(settings, published, tasks=byot.REGISTRY, queues=["byot-images"])
    ((kind, hash_, queues),) = await catalog_rows(conn, "byot.resize")
    assert (kind, queues) == ("worker", ["byot-images"])
    assert hash_ == schema_hash(byot.Resize.model_json_schema())


async def test_the_api_accepts_a_published_task_it_does_not_import(
    conn: Conn, settings: Settings, bare_api: httpx.AsyncClient
) -> None:
    unknown = await bare_api.post("/jobs", json={"task": "byot.resize", "args": {}})
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "unknown_task"
    await byot.publish(conn, byot.REGISTRY, "worker-host")
    # published a moment ago: the API reads the catalog again on a miss, no restart
    created = await bare_api.post(
        "/jobs", json={"task": "byot.resize", "args": {"url": "s3://a.png", "width": 64}}
    )
    assert created.status_code == 201, created.text
    assert (created.json()["queue"], created.json()["priority"]) == ("byot-images", 5)
    invalid = await bare_api.post(
        "/jobs", json={"task": "byot.resize", "args": {"width": 0, "extra": 1}}
    )
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["error"] == "invalid_arguments"
    locations = {tuple(item["loc"]) for item in body["detail"]}
    assert locations == {("body", "args"), ("body", "args", "url"), ("body", "args", "width")}
    cursor = await conn.execute("SELECT count(*) FROM procrastinate_jobs")
    assert await cursor.fetchone() == (1,)  # the invalid ones wrote nothing


async def test_batches_validate_published_tasks_too(
    conn: Conn, bare_api: httpx.AsyncClient
) -> None:
    await byot.publish(conn, byot.REGISTRY, "worker-host")
    good = {"task": "byot.resize", "args": {"url": "u", "width": 1}}
    rejected = await bare_api.post(
        "/batches", json={"jobs": [good, {"task": "byot.resize", "args": {"url": "u"}}]}
    )
    assert rejected.status_code == 422
    assert rejected.json()["detail"][0]["loc"] == ["body", "jobs", 1, "args", "width"]
    assert (await bare_api.post("/batches", json={"jobs": [good, good]})).status_code == 201


async def test_get_tasks_lists_published_tasks_and_a_rolling_deploy(
    conn: Conn, bare_api: httpx.AsyncClient
) -> None:
    class ResizeV2(BaseModel):
        url: str
        width: int
        height: int  # new required field in the next version of the code

    next_version = TaskRegistry()
    next_version.task(name="byot.resize", args=ResizeV2, queue="byot-images")(byot.resize)
    await byot.publish(conn, byot.REGISTRY, "old-host")
    await byot.publish(conn, next_version, "new-host")
    tasks = {task["name"]: task for task in (await bare_api.get("/tasks")).json()}
    resize = tasks["byot.resize"]
    assert resize["validated_by"] == "schema"
    assert resize["schema_conflict"] is True
    assert resize["live_workers"] == 2
    assert {version["processes"][0]["host"] for version in resize["versions"]} == {
        "old-host",
        "new-host",
    }
    # during the deploy, arguments valid for either version are accepted
    for args in ({"url": "u", "width": 1}, {"url": "u", "width": 1, "height": 2}):
        created = await bare_api.post("/jobs", json={"task": "byot.resize", "args": args})
        assert created.status_code == 201, created.text
    refused = await bare_api.post("/jobs", json={"task": "byot.resize", "args": {"url": "u"}})
    assert refused.status_code == 422


async def test_a_task_known_nowhere_is_a_422_listing_the_known_ones(
    conn: Conn, bare_api: httpx.AsyncClient
) -> None:
    await byot.publish(conn, byot.REGISTRY, "worker-host")
    refused = await bare_api.post("/jobs", json={"task": "byot.nope", "args": {}})
    assert refused.status_code == 422
    (detail,) = refused.json()["detail"]
    assert detail["loc"] == ["body", "task"]
    assert detail["valid"] == ["byot.flaky", "byot.nightly", "byot.resize"]


async def test_openapi_and_schedules_show_published_tasks(
    conn: Conn, bare_api: httpx.AsyncClient
) -> None:
    before = (await bare_api.get("/openapi.json")).json()
    assert "TaskArgs.byot.resize" not in before["components"]["schemas"]
    await byot.publish(conn, byot.REGISTRY, "worker-host")
    await bare_api.get("/tasks")  # reads the catalog now (the API also does every second)
    document = (await bare_api.get("/openapi.json")).json()
    args = document["components"]["schemas"]["TaskArgs.byot.resize"]
    assert args["required"] == ["url", "width"]
    body = document["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["discriminator"]["mapping"]["byot.resize"] == (
        "#/components/schemas/JobCreate.byot.resize"
    )
    schedules = {item["task"]: item for item in (await bare_api.get("/schedules")).json()}
    assert schedules["byot.nightly"]["cron"] == "0 2 * * *"
    assert schedules["byot.nightly"]["queue"] == "byot-reports"


async def test_tasks_the_api_imports_stay_validated_by_their_model(
    client: httpx.AsyncClient,
) -> None:
    tasks = {task["name"]: task for task in (await client.get("/tasks")).json()}
    assert tasks["llm.generate"]["validated_by"] == "model"
    assert tasks["pgjobs.rescue_stalled_jobs"]["queue"] == "pgjobs.maintenance"


async def test_every_reference_of_the_openapi_document_resolves(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "TaskArgs.llm.generate" in schemas

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [ref for value in node.values() for ref in refs(value)]
        if isinstance(node, list):
            return [ref for item in node for ref in refs(item)]
        return []

    for ref in refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


async def test_published_tasks_and_queues_are_declared_names(
    conn: Conn, settings: Settings
) -> None:
    directory = TaskDirectory(TaskRegistry(), TaskCatalog(settings))
    assert directory.declared(["extra"]).task("byot.resize") == "(other)"
    await byot.publish(conn, byot.REGISTRY, "worker-host")
    await directory.refresh(conn)
    declared = directory.declared(["extra"])
    assert declared.task("byot.resize") == "byot.resize"
    assert declared.queue("byot-images") == "byot-images"
    assert declared.queue("extra") == "extra"
    assert declared.queue("nowhere") == "(other)"
