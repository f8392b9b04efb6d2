"""A throwaway Postgres for ``pgjobs dev`` and for tests on machines without one.

It runs the binaries shipped in the ``pgserver`` wheel (no system Postgres,
no Docker). pgserver listens on a Unix socket only and, when run as root,
runs the server as an unprivileged ``pgserver`` user, as Postgres requires.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _pgserver() -> Any:
    # platformdirs warns at pgserver's import when XDG_RUNTIME_DIR is unset.
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # noqa: S108
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    return pgserver


class EmbeddedPostgres:
    """A running embedded server; ``url`` is a libpq URL to its ``postgres`` database."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = _pgserver().get_server(self.data_dir, cleanup_mode="stop")

    @property
    def url(self) -> str:
        return str(self._server.get_uri())

    def database_url(self, database: str) -> str:
        return str(self._server.get_uri(database))

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m <mode>``: what a Postgres restart looks like to clients."""
        pg_ctl = Path(_pgserver()._commands.POSTGRES_BIN_PATH) / "pg_ctl"
        # -l: the restarted postmaster must not inherit our stdout, or run() waits forever.
        subprocess.run(
            [
                str(pg_ctl),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "log"),
                "-w",
                "-m",
                mode,
                "restart",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._server.system_user,
        )

    def stop(self) -> None:
        self._server.cleanup()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(data_dir)
    try:
        yield server
    finally:
        server.stop()
