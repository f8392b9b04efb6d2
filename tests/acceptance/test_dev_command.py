"""The README's run command: ``pgjobs dev`` with no DATABASE_URL starts everything itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
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


def test_dev_runs_api_worker_and_embedded_postgres_then_stops_cleanly(
    tmp_path: Path, data_dir: Path
) -> None:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_") and k != "DATABASE_URL"
    }
    env.update(PGJOBS_DATA_DIR=str(data_dir), PGJOBS_API_PORT=str(port))
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [sys.executable, "-m", "api.cli.main", "dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> dict[str, object] | None:
            try:
                body: dict[str, object] = httpx.get(base + "/health/ready", timeout=1).json()
            except httpx.HTTPError:
                return None
            return body if body["status"] == "ok" else None

        wait_for(healthy, timeout=90, what="pgjobs dev to be healthy with a worker")
        created = httpx.post(
            base + "/jobs", json={"task": "agents.run", "args": {"agent": "a", "objective": "o"}}
        )
        assert created.status_code == 201
        job_id = created.json()["id"]
        wait_for(
            lambda: httpx.get(f"{base}/jobs/{job_id}").json()["status"] == "succeeded",
            what="the job to run on the dev worker",
        )
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(timeout=60)
    output = log.read_text()
    assert code == 0, output
    assert f"API {base}" in output
    assert "embedded Postgres stopped" in output
    pids = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert pids.stdout.strip() == "", f"leftover processes: {pids.stdout}"
