"""What the benchmarks share: a scratch database at alembic head, child processes, the API.

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


@contextmanager
def process(command: list[str], **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in the repository, with ``env`` on top of ours; SIGTERM (then kill)
    when done. The demo tasks are loaded (the benches create them), as `pgjobs dev` does."""
    child = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "PGJOBS_TASK_MODULES": "jobs.examples", **env}
    )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _answers(base_url: str) -> bool:
    try:
        httpx.get(base_url + "/health", timeout=5)  # any status: the patterns' apps have none
    except httpx.HTTPError:
        return False
    return True


@contextmanager
def api_process(
    database_url: str, *, factory: str = "api.main:app_from_environment", **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """One uvicorn process (uvloop, httptools) serving ``factory``: (base URL, process) once
    it answers HTTP (pgjobs' API on /health, the patterns' apps of api_create with a 404)."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with process(command, DATABASE_URL=database_url, **env) as server:
        base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(base_url), timeout=API_START_DEADLINE, what="the API to answer")
        yield base_url, server


@contextmanager
def api_server(
    database_url: str, *, factory: str = "api.main:app_from_environment", **env: str
) -> Iterator[str]:
    """:func:`api_process`, when only its URL matters."""
    with api_process(database_url, factory=factory, **env) as (base_url, _):
        yield base_url
