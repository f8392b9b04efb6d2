"""The README's run command: ``pgjobs dev`` with no DATABASE_URL starts everything itself,
says where everything is in a few lines, and stops everything on Ctrl-C or SIGTERM."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from harness.conditions import wait_for
from harness.postgres import scratch_directory
from harness.processes import ROOT, free_port

pytestmark = pytest.mark.acceptance


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """``PGJOBS_DATA_DIR`` of the dev command: its embedded Postgres lives there."""
    with scratch_directory("pgjobs-dev-") as scratch:
        yield scratch / "data"


def start_dev(tmp_path: Path, data_dir: Path, port: int, *command: str) -> subprocess.Popen[bytes]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_") and k != "DATABASE_URL"
    }
    env.update(PGJOBS_DATA_DIR=str(data_dir), PGJOBS_API_PORT=str(port))
    with (tmp_path / "dev.out").open("wb") as out:
        return subprocess.Popen(
            list(command) or [sys.executable, "-m", "api.cli.main", "dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's job is
        )


def wait_ready(base: str) -> None:
    def ready() -> bool:
        try:
            return bool(httpx.get(base + "/health/ready", timeout=1).json()["status"] == "ok")
        except httpx.HTTPError:
            return False

    wait_for(ready, timeout=120, what="pgjobs dev to be ready with a worker")


def leftovers(data_dir: Path) -> str:
    """Processes still running from this test's data directory (postgres, workers)."""
    found = subprocess.run(["pgrep", "-af", str(data_dir)], capture_output=True, text=True)
    return found.stdout.strip()


def test_dev_prints_a_short_banner_runs_jobs_and_stops_on_ctrl_c(
    tmp_path: Path, data_dir: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    dev = start_dev(tmp_path, data_dir, port)
    try:
        wait_ready(base)
        created = httpx.post(
            base + "/jobs", json={"task": "agents.run", "args": {"agent": "a", "objective": "o"}}
        )
        assert created.status_code == 201
        job_id = created.json()["id"]
        wait_for(
            lambda: httpx.get(f"{base}/jobs/{job_id}").json()["status"] == "succeeded",
            what="the job to run on the dev worker",
        )
        assert httpx.get(base + "/docs").status_code == 200
    finally:
        os.killpg(dev.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole process group
        code = dev.wait(timeout=90)
    output = (tmp_path / "dev.out").read_text()
    assert code == 130, output
    lines = output.strip().splitlines()
    assert len(lines) <= 14, output
    for expected in (
        f"API        {base}",
        f"dashboard  {base}/dashboard",
        f"docs       {base}/docs",
        "DATABASE_URL=postgresql://",
        "--tasks myapp.tasks",
        "stopped (API, workers, embedded Postgres)",
    ):
        assert expected in output
    assert "Traceback" not in output
    assert "Running upgrade" not in output  # migration chatter is in the log file
    assert "Running upgrade" in (data_dir / "dev.log").read_text()
    assert leftovers(data_dir) == ""


def test_sigterm_to_scripts_dev_stops_everything(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    dev = start_dev(tmp_path, data_dir, port, "bash", "scripts/dev")  # exec's uv run pgjobs dev
    try:
        wait_ready(f"http://127.0.0.1:{port}")
    finally:
        dev.send_signal(signal.SIGTERM)  # as `timeout` or a process manager would
        dev.wait(timeout=90)
    output = (tmp_path / "dev.out").read_text()
    assert "stopped (API, workers, embedded Postgres)" in output, output
    assert "Traceback" not in output
    assert leftovers(data_dir) == ""


OUTSIDE_MODULE = """
from pydantic import BaseModel, Field
from jobs import TaskContext, task


class Greet(BaseModel):
    name: str = Field(min_length=1)


@task(name="outside.greet", args=Greet, queue="outside")
async def greet(ctx: TaskContext, args: Greet) -> dict[str, str]:
    return {"greeting": f"hello {args.name}"}
"""


def succeeded(base: str, job_id: int) -> dict[str, Any] | None:
    job: dict[str, Any] = httpx.get(f"{base}/jobs/{job_id}").json()
    return job if job["status"] == "succeeded" else None


def test_dev_runs_a_task_module_written_outside_the_repository(
    tmp_path: Path, data_dir: Path
) -> None:
    modules = tmp_path / "elsewhere"
    modules.mkdir()
    (modules / "outside_tasks.py").write_text(OUTSIDE_MODULE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env_path = f"{ROOT}{os.pathsep}{modules}"
    command = [sys.executable, "-m", "api.cli.main", "dev", "--tasks", "outside_tasks"]
    dev = start_dev(tmp_path, data_dir, port, "env", f"PYTHONPATH={env_path}", *command)
    try:
        wait_ready(base)
        tasks = {task["name"] for task in httpx.get(base + "/tasks").json()}
        assert "outside.greet" in tasks
        assert "llm.generate" not in tasks  # the demo tasks only when no module is given
        created = httpx.post(base + "/jobs", json={"task": "outside.greet", "args": {"name": "a"}})
        assert created.status_code == 201, created.text
        output = (tmp_path / "dev.out").read_text()
        database_url = output.split("DATABASE_URL=", 1)[1].split()[0]
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pgjobs_enqueue_v1('outside.greet', '{\"name\": \"b\"}')"
            ).fetchone()
        assert row is not None
        for job_id, name in ((created.json()["id"], "a"), (row[0], "b")):
            job = wait_for(functools.partial(succeeded, base, job_id), what=f"job {job_id}")
            assert job["result"] == {"greeting": f"hello {name}"}
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(timeout=90)
    assert leftovers(data_dir) == ""
