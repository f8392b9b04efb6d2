"""What the benchmarks share: a scratch database at alembic head and a uvicorn API on it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from migrations import runner

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql://127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(database_url: str | None = None) -> Iterator[str]:
    """``database_url`` migrated to head, or a new database on 127.0.0.1:5432 dropped after."""
    if database_url is not None:
        runner.upgrade(database_url)
        yield database_url
        return
    name = f"pgjobs_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql://127.0.0.1:5432/{name}"
        runner.upgrade(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


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
        env={**os.environ, "DATABASE_URL": database_url, **env},
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base_url + "/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
