"""A throwaway Postgres for ``pgjobs dev`` and for tests on machines without one.

It runs the binaries shipped in the ``pgserver`` wheel (no system Postgres,
no Docker). pgserver listens on a Unix socket only and, when run as root,
runs the server as an unprivileged ``pgserver`` user, as Postgres requires.
"""

from __future__ import annotations

import os
import subprocess
import warnings
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
        # -l: the restarted postmaster must not inherit our stdout, or run() waits forever.
        self._pg_ctl("-l", str(self.data_dir / "log"), "-w", "-m", mode, "restart")

    def stop(self) -> None:
        """Stop the server, whichever postmaster runs now.

        pgserver only knows the postmaster it started; after :meth:`restart` that
        process is gone and its cleanup would leave the new one running, so the
        server is stopped with pg_ctl first.
        """
        if (self.data_dir / "postmaster.pid").exists():
            self._pg_ctl("-w", "-m", "fast", "stop", check=False)
        if not (self.data_dir / "postmaster.pid").exists():
            # stopped: pgserver need only release its handle (its own stop would fail, loudly)
            self._server.cleanup_mode = None
        self._server.cleanup()

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        pg_ctl = Path(_pgserver()._commands.POSTGRES_BIN_PATH) / "pg_ctl"
        subprocess.run(
            [str(pg_ctl), "-D", str(self.data_dir), *args],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._server.system_user,
        )
