"""Where a test run's Postgres comes from, and fresh databases cloned from a migrated template.

Order: ``PGJOBS_TEST_POSTGRES=embedded`` forces the embedded server; else
``PGJOBS_TEST_DATABASE_URL`` (a server URL; its database is only used
for maintenance), else a server already on 127.0.0.1:5432, else an embedded
one started from the ``pgserver`` wheel's binaries. Databases are created and
dropped with pytest-postgresql's ``DatabaseJanitor``; every name carries a random
suffix, so several runs at once (two suites, a suite and a benchmark) share a server
without meeting.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pytest_postgresql.janitor import DatabaseJanitor

from db.embedded import EmbeddedPostgres
from migrations import runner

LOCAL_SERVER = "postgresql://127.0.0.1:5432/postgres"


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str | None
    embedded: EmbeddedPostgres | None = None

    @classmethod
    def from_url(cls, url: str, embedded: EmbeddedPostgres | None = None) -> PostgresServer:
        params = conninfo_to_dict(url)
        return cls(
            host=str(params.get("host") or "127.0.0.1"),
            port=int(params.get("port") or 5432),
            user=str(params.get("user") or os.environ.get("USER") or "postgres"),
            password=str(params["password"]) if params.get("password") else None,
            embedded=embedded,
        )

    def url(self, dbname: str) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.host.startswith("/"):
            return (
                f"postgresql://{auth}@/{dbname}?host={quote(self.host, safe='')}&port={self.port}"
            )
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def janitor(self, dbname: str, template: str | None = None) -> DatabaseJanitor:
        return DatabaseJanitor(
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            dbname=dbname,
            template_dbname=template,
        )

    def create_database(self, template: str | None = None, prefix: str = "pgjobs_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.janitor(name, template).init()
        return name

    def drop_database(self, name: str) -> None:
        self.janitor(name).drop()


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A new directory for an embedded server's data (or ``pgjobs dev``'s), removed after.

    Never under pytest's temporary root: run as root, pgserver runs Postgres as its own
    system user and opens the parent directories to it, and every pytest session that
    starts on the machine (a second suite, another engineer's) resets that root to mode
    0700, locking the server out of its own files (``pg_ctl stop`` fails, the server is
    left running). The system temporary directory is world-traversable.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def find_or_start_server(scratch: Path) -> PostgresServer:
    """The server a test run uses; an embedded one lives in ``scratch`` (a
    :func:`scratch_directory`)."""
    if os.environ.get("PGJOBS_TEST_POSTGRES") == "embedded":  # prove the no-server path
        return start_embedded(scratch)
    configured = os.environ.get("PGJOBS_TEST_DATABASE_URL")
    if configured:
        return PostgresServer.from_url(configured)
    if _reachable(LOCAL_SERVER):
        return PostgresServer.from_url(LOCAL_SERVER)
    return start_embedded(scratch)


def start_embedded(scratch: Path) -> PostgresServer:
    embedded = EmbeddedPostgres(scratch / "postgres")
    return PostgresServer.from_url(embedded.url, embedded=embedded)


def create_template(server: PostgresServer) -> str:
    """A database at alembic head that every test database is cloned from."""
    name = server.create_database(prefix="pgjobs_template")
    runner.upgrade(server.url(name))
    return name
