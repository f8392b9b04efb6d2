"""The fault-injection cluster: an API and supervised workers on a Postgres it owns, and the
faults (kill a worker mid-job, restart or stop Postgres, terminate backends).

The stream of jobs is :mod:`harness.faults.load`, the verdict (lost, duplicated,
concurrent, unexplained runs) :mod:`harness.faults.verdict`. It only ever restarts
the embedded server it was given, never a shared one.
"""

from __future__ import annotations

import os
import pwd
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from harness.conditions import wait_for
from harness.faults.verdict import FINAL, Execution, Kill, Verdict
from harness.postgres import PostgresServer
from harness.processes import ROOT, alive, children, free_port

CREATE_EXECUTIONS = """
CREATE TABLE fault_executions (
    execution_id uuid PRIMARY KEY,
    job_id bigint NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX fault_executions_job_id_idx ON fault_executions (job_id);
"""


@dataclass(frozen=True)
class Timing:
    """Short liveness intervals, so a fault run takes seconds, not minutes (all settings)."""

    heartbeat: float = 1.0
    stalled_after: float = 4.0
    rescue_cron: str = "* * * * * *"
    grace: float = 10.0
    pool_timeout: float = 3.0
    concurrency: int = 2

    def env(self) -> dict[str, str]:
        return {
            "PGJOBS_WORKER_HEARTBEAT_SECONDS": str(self.heartbeat),
            "PGJOBS_WORKER_STALLED_AFTER_SECONDS": str(self.stalled_after),
            "PGJOBS_RESCUE_CRON": self.rescue_cron,
            "PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS": str(self.grace),
            "PGJOBS_POOL_TIMEOUT": str(self.pool_timeout),
            "PGJOBS_WORKER_CONCURRENCY": str(self.concurrency),
        }


def pg_ctl(data_dir: Path, *args: str, check: bool = True) -> None:
    """Run an embedded server's own pg_ctl as the owner of its data directory (as pgserver)."""
    # postmaster.opts (kept after a stop) starts with the path of the postgres binary
    binary = Path((data_dir / "postmaster.opts").read_text().split('"')[0].strip())
    owner = pwd.getpwuid(data_dir.stat().st_uid).pw_name
    subprocess.run(
        [str(binary.parent / "pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "log"),
         "-w", *args],
        check=check,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=owner if os.geteuid() == 0 else None,
    )  # fmt: skip


def stop_embedded(server: PostgresServer) -> None:
    """Stop an embedded server for good, whichever postmaster runs it now.

    pgserver's own stop only knows the postmaster it started: after a fault
    restarted the server, it would leave the new one running.
    """
    assert server.embedded is not None
    pg_ctl(server.embedded.data_dir, "stop", "-m", "fast", check=False)
    server.embedded.stop()


class ProcessWatch:
    """When each worker process (a supervisor's child) was last seen alive, every 0.1 s.

    A run that never recorded its end (its process was killed, or aborted it while
    the database was down) ended at the latest when its process did.
    """

    INTERVAL = 0.1

    def __init__(self, supervisors: Callable[[], list[int]]) -> None:
        self._supervisors = supervisors
        self.last_seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            now = time.time()
            for supervisor in self._supervisors():
                for pid in children(supervisor):
                    if alive(pid):
                        self.last_seen[pid] = now

    def ended_by(self, pid: int) -> float:
        """An upper bound of the moment ``pid`` exited (inf while it runs)."""
        if alive(pid) or pid not in self.last_seen:
            return float("inf")
        return self.last_seen[pid] + self.INTERVAL

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class Cluster:
    """An API and supervised workers on one database of ``server`` (an embedded server)."""

    server: PostgresServer
    database: str
    log_dir: Path
    timing: Timing = field(default_factory=Timing)
    #: Put into DATABASE_URL (the embedded server trusts local connections and ignores it):
    #: the outage tests check it never appears in an answer or a log.
    password: str | None = None
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    watch: ProcessWatch | None = None

    @property
    def embedded(self) -> Any:
        assert self.server.embedded is not None, "faults need a server of their own"
        return self.server.embedded

    @property
    def url(self) -> str:
        return self.server.url(self.database)

    @property
    def app_url(self) -> str:
        """The URL the processes get: with the password, when there is one."""
        if self.password is None:
            return self.url
        secret = quote(self.password, safe="")
        return self.url.replace(f"{self.server.user}:@", f"{self.server.user}:{secret}@", 1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(CREATE_EXECUTIONS)

    # -- processes ---------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_")}
        env.pop("DATABASE_URL", None)
        env.update(DATABASE_URL=self.app_url, PYTHONPATH=str(ROOT), **self.timing.env())
        return env

    def _spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.log_dir / log_name).open("ab") as log:
            return subprocess.Popen(
                command, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )

    def start_api(self) -> None:
        self.api = self._spawn(
            [
                sys.executable, "-m", "uvicorn", "--factory",
                "harness.faults.recording:create_api",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            ],
            "api.log",
        )  # fmt: skip
        wait_for(self._api_answers, timeout=60, what="the API to answer")

    def _api_answers(self) -> bool:
        try:
            return httpx.get(self.base_url + "/health", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    def start_workers(self, count: int) -> None:
        if self.watch is None:
            self.watch = ProcessWatch(lambda: [supervisor.pid for supervisor in self.workers])
        for _ in range(count):
            index = len(self.workers)
            self.workers.append(
                self._spawn([sys.executable, "-m", "harness.faults.worker"], f"worker-{index}.log")
            )
        wait_for(
            lambda: self.live_workers() >= len(self.workers),
            timeout=90,
            what=f"{len(self.workers)} workers to heartbeat",
        )

    def worker_pids(self) -> list[int]:
        """The procrastinate worker processes (children of the supervisors)."""
        return [pid for sup in self.workers for pid in children(sup.pid) if alive(pid)]

    def live_workers(self) -> int:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_workers "
                "WHERE last_heartbeat > now() - make_interval(secs => %s)",
                [self.timing.stalled_after],
            ).fetchone()
        return int(row[0]) if row else 0

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )

    def close(self) -> None:
        """Stop everything this cluster started, gracefully first, and leave nothing behind."""
        if self.watch is not None:
            self.watch.stop()
        processes = [p for p in [*self.workers, self.api] if p is not None]
        grandchildren = [pid for sup in self.workers for pid in children(sup.pid)]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.timing.grace + 20
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in grandchildren:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    # -- database ------------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Any]]:
        """A fresh autocommit connection, retried through a restart."""
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            yield conn

    # -- faults --------------------------------------------------------------------

    def kill_worker_mid_job(self) -> Kill:
        """SIGKILL a worker process that is running at least one recorded execution."""
        pids = set(self.worker_pids())

        def running() -> dict[int, list[int]] | None:
            with self.connect() as conn:
                rows = conn.execute(
                    "SELECT pid, array_agg(job_id) FROM fault_executions "
                    "WHERE finished_at IS NULL GROUP BY pid"
                ).fetchall()
            busy = {pid: jobs for pid, jobs in rows if pid in pids}
            return busy or None

        busy = wait_for(running, timeout=30, what="a worker running a job")
        pid = random.choice(sorted(busy))
        os.kill(pid, signal.SIGKILL)
        kill = Kill(pid=pid, at=time.time(), job_ids=tuple(busy[pid]))
        self.kills.append(kill)
        return kill

    def restart_postgres(self) -> float:
        """``pg_ctl restart -m fast``; returns when the server accepts connections again."""
        started = time.time()
        self.embedded.restart()
        return started

    def stop_postgres(self) -> None:
        pg_ctl(self.embedded.data_dir, "stop", "-m", "fast")

    def start_postgres(self) -> None:
        data_dir = self.embedded.data_dir
        pg_ctl(data_dir, "start", "-o", f'-h "" -k {data_dir}')

    def ensure_postgres_running(self) -> None:
        """Start the server again if a (failed) test left it stopped."""
        try:
            psycopg.connect(self.url, connect_timeout=3).close()
        except psycopg.OperationalError:
            self.start_postgres()

    def terminate_backends(self, application_name: str) -> int:
        """``pg_terminate_backend`` every connection of that application name (LIKE pattern)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE %s "
                "AND pid <> pg_backend_pid()",
                [application_name],
            ).fetchall()
        return sum(1 for (terminated,) in rows if terminated)

    # -- verdict -------------------------------------------------------------------

    def wait_until_final(self, job_ids: list[int], within: float) -> None:
        def all_final() -> bool:
            with self.connect() as conn:
                row = conn.execute(
                    "SELECT count(*) FROM procrastinate_jobs "
                    "WHERE id = ANY(%s) AND status::text = ANY(%s)",
                    [job_ids, list(FINAL)],
                ).fetchone()
            return row is not None and row[0] == len(job_ids)

        wait_for(all_final, timeout=within, what=f"{len(job_ids)} jobs to finish", interval=0.5)

    def verdict(self, accepted: list[int]) -> Verdict:
        with self.connect() as conn:
            statuses = dict(
                conn.execute(
                    "SELECT id, status::text FROM procrastinate_jobs WHERE id = ANY(%s)",
                    [accepted],
                ).fetchall()
            )
            executions: dict[int, list[Execution]] = {}
            for job_id, attempt, pid, started, finished in conn.execute(
                "SELECT job_id, attempt, pid, started_at, finished_at FROM fault_executions "
                "WHERE job_id = ANY(%s)",
                [accepted],
            ):
                executions.setdefault(job_id, []).append(
                    Execution(
                        job_id,
                        attempt,
                        pid,
                        started.timestamp(),
                        finished.timestamp() if finished else None,
                    )
                )
            lost = dict(
                conn.execute(
                    "SELECT job_id, count(*) FROM pgjobs_attempts "
                    "WHERE outcome = 'lost' AND job_id = ANY(%s) GROUP BY job_id",
                    [accepted],
                ).fetchall()
            )
            requeued = dict(
                conn.execute(
                    "SELECT job_id, count(*) FROM pgjobs_attempts "
                    "WHERE outcome = 'aborted' "
                    "AND error_type = 'jobs.tasks.retry.WorkerShutdown' "
                    "AND job_id = ANY(%s) GROUP BY job_id",
                    [accepted],
                ).fetchall()
            )
        pids = {run.pid for runs in executions.values() for run in runs}
        ends = {pid: self.watch.ended_by(pid) if self.watch else float("inf") for pid in pids}
        for kill in self.kills:
            ends[kill.pid] = min(ends.get(kill.pid, float("inf")), kill.at)
        return Verdict(accepted, statuses, executions, lost, requeued, list(self.kills), ends)

    def interrupted(self) -> list[tuple[Kill, int]]:
        """(kill, job id) of every job a kill interrupted: its run there never ended."""
        found = []
        with self.connect() as conn:
            for kill in self.kills:
                rows = conn.execute(
                    "SELECT DISTINCT job_id FROM fault_executions "
                    "WHERE pid = %s AND finished_at IS NULL",
                    [kill.pid],
                ).fetchall()
                found += [(kill, job_id) for (job_id,) in rows]
        return found

    def rescue_delays(self) -> list[float]:
        """Seconds from each kill to the rescue of each job it interrupted (rescued ones)."""
        delays = []
        with self.connect() as conn:
            for kill, job_id in self.interrupted():
                row = conn.execute(
                    "SELECT min(at) FROM procrastinate_events WHERE job_id = %s "
                    "AND type IN ('deferred_for_retry', 'failed', 'succeeded', 'aborted') "
                    "AND at > to_timestamp(%s)",
                    [job_id, kill.at],
                ).fetchone()
                if row and row[0] is not None:
                    delays.append(row[0].timestamp() - kill.at)
        return delays

    def completions(self, since: float, until: float) -> int:
        """Executions that finished in [since, until) (throughput)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM fault_executions "
                "WHERE finished_at >= to_timestamp(%s) AND finished_at < to_timestamp(%s)",
                [since, until],
            ).fetchone()
        return int(row[0]) if row else 0

    def first_completion_after(self, moment: float, within: float) -> float:
        """Seconds from ``moment`` to the first execution started and finished after it."""

        def probe() -> float | None:
            with self.connect() as conn:
                row = conn.execute(
                    "SELECT min(finished_at) FROM fault_executions "
                    "WHERE started_at > to_timestamp(%s) AND finished_at IS NOT NULL",
                    [moment],
                ).fetchone()
            return row[0].timestamp() - moment if row and row[0] is not None else None

        return wait_for(probe, timeout=within, what="a job to complete after the fault")
