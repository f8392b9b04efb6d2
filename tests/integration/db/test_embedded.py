"""The embedded Postgres of `pgjobs dev` and of test runs on machines without a server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from db.embedded import EmbeddedPostgres
from harness.postgres import scratch_directory


def _running(data_dir: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", f"postgres.*{data_dir}"], capture_output=True)
    return found.returncode == 0


def test_restart_keeps_serving_and_stop_leaves_nothing_running() -> None:
    with scratch_directory("pgjobs-embedded-") as scratch:
        data_dir = scratch / "pg"
        server = EmbeddedPostgres(data_dir)
        try:
            with psycopg.connect(server.url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            server.restart()
            with psycopg.connect(server.url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            server.stop()
        assert not _running(data_dir.resolve())
