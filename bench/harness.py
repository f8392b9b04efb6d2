"""What the benchmarks share: a scratch database at alembic head and a uvicorn API on it.

Built on :mod:`harness` (the processes and databases the tests drive too), never on
test code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from harness.conditions import wait_for
from harness.postgres import LOCAL_SERVER, PostgresServer
from harness.processes import ROOT, free_port
from migrations import runner

#: Seconds a benchmark's API gets to answer /health: a liveness bound, not a figure.
API_START_DEADLINE = 120.0


@contextmanager
def scratch_database(database_url: str | None = None) -> Iterator[str]:
    """``database_url`` migrated to head, or a new database on 127.0.0.1:5432 dropped after."""
    if database_url is not None:
        runner.upgrade(database_url)
        yield database_url
        return
    server = PostgresServer.from_url(LOCAL_SERVER)
    name = server.create_database(prefix="pgjobs_bench")
    try:
        url = server.url(name)
        runner.upgrade(url)
        yield url
    finally:
        server.drop_database(name)


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/health", timeout=5).status_code in (200, 503)
    except httpx.HTTPError:
        return False


@contextmanager
def api_server(database_url: str, **env: str) -> Iterator[str]:
    """One uvicorn process serving the API; yields its base URL once /health answers."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_environment",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ],
        cwd=ROOT,
        # the demo tasks (the benches create them), as `pgjobs dev` loads them
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "PGJOBS_TASK_MODULES": "jobs.examples",
            **env,
        },
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base_url), timeout=API_START_DEADLINE, what="the API to answer")
        yield base_url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
