"""A throwaway Postgres 15 for benchmarks: pg_stat_statements loaded, fsync on, CPU measurable.

The shared server on 127.0.0.1:5432 does not preload ``pg_stat_statements``
and serves other work at the same time, so statement counts and Postgres CPU
read there would not be the benchmark's own. This server is started from the
Debian packages' binaries (``/usr/lib/postgresql/15/bin``) in a temporary
directory, owned by the ``postgres`` system user when we are root (Postgres
refuses to run as root), and removed at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
#: Server settings of the benchmark: durable commits, as in production.
SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "fsync": "on",
    "synchronous_commit": "on",
    "shared_buffers": "512MB",
    "max_connections": "300",
    "listen_addresses": "127.0.0.1",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    found = [pid]
    for parent in found:
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                found += [int(child) for child in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def tree_cpu_seconds(pid: int, *, exclude: frozenset[int] = frozenset()) -> float:
    """CPU seconds of a process and its live descendants (finished ones are not counted)."""
    return sum(cpu_seconds(child) for child in descendants(pid) if child not in exclude)


@dataclass
class BenchPostgres:
    data_dir: Path
    port: int
    postmaster_pid: int = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def cpu_seconds(self, *, exclude: frozenset[int] = frozenset()) -> float:
        """CPU of the postmaster and its live backends (``exclude``: the bench's own)."""
        return tree_cpu_seconds(self.postmaster_pid, exclude=exclude)


def _run(*command: str, check: bool = True) -> None:
    """Run a Postgres binary, as the postgres system user when we are root."""
    owner = "postgres" if os.geteuid() == 0 else None
    subprocess.run(
        list(command),
        check=check,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=owner,
        group=owner,
    )


@contextmanager
def bench_postgres() -> Iterator[BenchPostgres]:
    """Start a throwaway server; stop it and remove its files at the end."""
    if not (BIN / "initdb").exists():
        raise SystemExit(f"the bench needs PostgreSQL 15's binaries in {BIN}")
    scratch = Path(tempfile.mkdtemp(prefix="pgjobs-bench-pg-"))
    data_dir = scratch / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(scratch, owner.pw_uid, owner.pw_gid)
    server = BenchPostgres(data_dir=data_dir, port=free_port())
    _run(str(BIN / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = " ".join(f"-c {key}={value}" for key, value in SETTINGS.items())
    options += f" -c port={server.port} -c unix_socket_directories={scratch}"
    _run(str(BIN / "pg_ctl"), "-D", str(data_dir), "-l", str(scratch / "log"), "-w",
         "-o", options, "start")  # fmt: skip
    server.postmaster_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    try:
        yield server
    finally:
        _run(str(BIN / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "immediate", "stop", check=False)
        shutil.rmtree(scratch, ignore_errors=True)
