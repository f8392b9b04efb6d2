"""Queue routing with real worker processes, and ``pgjobs worker`` refusing unknown queues."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from harness.conditions import wait_for
from harness.processes import ROOT
from harness.stack import Stack

pytestmark = pytest.mark.acceptance


def _job_in(client: httpx.Client, job_id: int, *statuses: str) -> dict[str, Any] | None:
    job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
    return job if job["status"] in statuses else None


def _registered_id(stack: Stack, index: int) -> int | None:
    """The id worker ``index`` registered under, from its (debug) log."""
    log = (stack.log_dir / f"worker-{index}.log").read_text()
    found = re.search(r"Registered worker (\d+) in the database", log)
    return int(found[1]) if found else None


def test_workers_take_only_their_queues(stack: Stack) -> None:
    stack.start_worker("--queues", "tools,urgent", PROCRASTINATE_LOG_LEVEL="debug")
    stack.start_worker("--queues", "llm", PROCRASTINATE_LOG_LEVEL="debug")
    stack.start_api()
    tools_worker = wait_for(lambda: _registered_id(stack, 0), what="the tools worker")
    llm_worker = wait_for(lambda: _registered_id(stack, 1), what="the llm worker")
    bodies = {
        "llm": {"task": "llm.generate", "args": {"prompt": "p"}},
        "rerouted": {"task": "llm.generate", "args": {"prompt": "p"}, "queue": "urgent"},
        "tools": {"task": "tools.run", "args": {"tool": "t"}},
    }
    with stack.client() as client:
        created = {
            name: client.post("/jobs", json=body).json()["id"] for name, body in bodies.items()
        }
        ran_on = {
            name: wait_for(
                functools.partial(_job_in, client, job_id, "succeeded"), what=f"the {name} job"
            )["attempt_history"][0]["worker_id"]
            for name, job_id in created.items()
        }
    assert ran_on == {"llm": llm_worker, "rerouted": tools_worker, "tools": tools_worker}


def test_pgjobs_worker_refuses_unknown_queues(stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli.main", "worker", "--queues", "llm,lmm"],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown queue(s): lmm; known queues: " in result.stderr
    assert "PGJOBS_EXTRA_QUEUES" in result.stderr
