"""The example application (docs/examples/media_app) end to end, with real processes.

A FastAPI app writes its own row and enqueues in one transaction; ``pgjobs
worker`` runs the app's task module (``PGJOBS_TASK_MODULES``); pgjobs' API,
which cannot even import the app's code (it is not on its path), accepts,
validates and lists the app's tasks from the task catalog.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import httpx
import psycopg
import pytest

from harness.conditions import wait_for
from harness.processes import ROOT, free_port
from harness.stack import Stack

pytestmark = pytest.mark.acceptance

APP_DIR = ROOT / "docs" / "examples" / "media_app"
APP_PATH = f"{ROOT}{os.pathsep}{APP_DIR}"


def test_media_app_runs_its_own_tasks_behind_pgjobs(stack: Stack) -> None:
    app_port = free_port()
    with stack.client() as api, httpx.Client(base_url=f"http://127.0.0.1:{app_port}") as app:
        run_media_app(stack, api, app, app_port)


def run_media_app(stack: Stack, api: httpx.Client, app: httpx.Client, app_port: int) -> None:
    # pgjobs' API: no task module, and the app's code is not importable from it
    stack.start_api(PGJOBS_TASK_MODULES="")
    stack.start_process(
        [sys.executable, "-m", "api.cli.main", "worker", "--queues", "media"],
        "media-worker.log",
        PYTHONPATH=APP_PATH,
        PGJOBS_TASK_MODULES="media_app.tasks",
    )

    def published() -> dict[str, Any] | None:
        tasks = {task["name"]: task for task in api.get("/tasks").json()}
        task = tasks.get("media.transcribe")
        return task if task is not None and task["live_workers"] == 1 else None

    transcribe = wait_for(published, timeout=60, what="the worker to publish its tasks")
    assert transcribe["validated_by"] == "schema"
    assert transcribe["queue"] == "media"
    assert transcribe["retry"]["max_attempts"] == 3
    assert "llm.generate" not in {task["name"] for task in api.get("/tasks").json()}

    stack.start_process(
        [
            sys.executable, "-m", "uvicorn", "media_app.web:app",
            "--host", "127.0.0.1", "--port", str(app_port), "--log-level", "warning",
        ],
        "media-app.log",
        PYTHONPATH=APP_PATH,
    )  # fmt: skip

    def app_up() -> bool:
        try:
            return app.get("/uploads/0").status_code == 404
        except httpx.HTTPError:
            return False

    wait_for(app_up, what="the media app to answer")

    created = app.post("/uploads", json={"filename": "standup.m4a", "seconds": 60})
    assert created.status_code == 201, created.text
    upload_id, job_id = created.json()["upload_id"], created.json()["job_id"]

    def summarized() -> dict[str, Any] | None:
        upload: dict[str, Any] = app.get(f"/uploads/{upload_id}").json()
        return upload if upload["summary"] else None

    upload = wait_for(summarized, timeout=60, what="the transcription and its summary")
    assert upload["job_status"] == "succeeded"
    assert upload["transcript"] == " ".join(f"segment{n}" for n in range(1, 7))
    assert upload["summary"] == "segment1 ... segment6"
    assert upload["progress_percent"] == 100
    assert upload["result"]["words"] == 6

    job = api.get(f"/jobs/{job_id}").json()
    assert job["created_by"] == "media-app"
    assert job["result"] == upload["result"]

    # the pgjobs API validates the app's task against the published schema ...
    refused = api.post("/jobs", json={"task": "media.transcribe", "args": {"seconds": -1}})
    assert refused.status_code == 422
    assert {tuple(item["loc"]) for item in refused.json()["detail"]} == {
        ("body", "args", "upload_id"),
        ("body", "args", "seconds"),
    }
    # ... and creates it; the worker runs it
    created_job = api.post(
        "/jobs", json={"task": "media.transcribe", "args": {"upload_id": upload_id, "seconds": 5}}
    )
    assert created_job.status_code == 201, created_job.text
    api_job_id = created_job.json()["id"]
    wait_for(
        lambda: api.get(f"/jobs/{api_job_id}").json()["status"] == "succeeded",
        timeout=60,
        what="the job created over pgjobs' API to run",
    )

    # and from SQL, inside the app's own transaction
    with psycopg.connect(stack.database_url) as conn:
        (sql_job_id,) = conn.execute(
            "SELECT pgjobs_enqueue_v1('media.transcribe', %s::jsonb, created_by => 'psql')",
            [json.dumps({"upload_id": upload_id, "seconds": 1})],
        ).fetchone() or (None,)
    wait_for(
        lambda: api.get(f"/jobs/{sql_job_id}").json()["status"] == "succeeded",
        timeout=60,
        what="the job created in SQL to run",
    )
