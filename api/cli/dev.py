"""``pgjobs dev``: API, workers and (unless ``DATABASE_URL`` is set) an embedded Postgres.

The terminal shows a short banner (where the API, dashboard, docs and
database are, which tasks are loaded and how to load your own) and problems
(warnings and errors); everything else, initdb, migrations, the API's and the
workers' logs, goes to ``<PGJOBS_DATA_DIR>/dev.log``.

Stopping: Ctrl-C (SIGINT) or SIGTERM, at any moment, stops the API, then the
workers (SIGTERM, their grace period, then SIGKILL), then the embedded Postgres,
and exits without a traceback. The workers run in sessions of their own, so a
terminal's Ctrl-C reaches them once, through this process, in that order; the
embedded Postgres is in its own session too (``pg_ctl`` starts it so).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO

from api.cli.supervisor import STOP_MARGIN_SECONDS
from jobs.settings import Settings
from jobs.tasks.modules import DEMO_MODULE

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived while pgjobs dev was starting or running."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        #: What a shell reports for a process a signal stopped: 130 (SIGINT), 143 (SIGTERM).
        self.exit_status = 128 + signum


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`StopRequested` (uvicorn takes them over while serving,
    and re-raises them when it has shut down, which lands here too)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise StopRequested(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def log_to_file(path: Path) -> IO[bytes]:
    """Send every log record to ``path`` and only warnings and errors to the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setLevel(logging.WARNING)
    to_terminal.setFormatter(logging.Formatter("pgjobs dev: %(levelname)s %(name)s: %(message)s"))
    root.addHandler(to_file)
    root.addHandler(to_terminal)
    root.setLevel(logging.INFO)
    return path.open("ab")


def banner(
    settings: Settings, *, base: str, database_url: str, embedded: bool, workers: int, log: Path
) -> str:
    demo = settings.task_modules == (DEMO_MODULE,)
    tasks = ", ".join(settings.task_modules) + (" (the demo tasks)" if demo else "")
    where = "embedded, in " + str(settings.data_dir / "postgres") if embedded else "DATABASE_URL"
    lines = [
        "pgjobs dev is running. Ctrl-C stops the API, the workers and the database.",
        f"  API        {base}",
        f"  dashboard  {base}/dashboard",
        f"  docs       {base}/docs",
        f"  database   DATABASE_URL={database_url}  ({where})",
        f"  tasks      {tasks}",
        f"  workers    {workers} x {settings.worker_concurrency} jobs at once",
        f"  logs       {log}",
        "Your own tasks: pgjobs dev --tasks myapp.tasks  (or PGJOBS_TASK_MODULES; docs/tasks.md)",
    ]
    if settings.auth == "off":
        lines.append(
            "Authentication is off: anyone on this machine may use the API (it answers "
            "loopback clients only). Production needs PGJOBS_AUTH=required and API keys."
        )
    return "\n".join(lines)


def run_dev(settings: Settings, *, host: str | None, port: int | None, workers: int) -> int:
    """Run API and workers together; start an embedded Postgres when none is configured."""
    from api.cli.main import is_loopback

    if "auth" not in settings.model_fields_set:
        settings = settings.model_copy(update={"auth": "off"})  # dev runs open, on loopback
    bind_host = host or settings.api_host
    if settings.auth == "off" and not is_loopback(bind_host):
        print(
            f"pgjobs dev: without authentication the API serves loopback only, not {bind_host}; "
            "set PGJOBS_AUTH=required and create a key (pgjobs keys create) to serve others",
            file=sys.stderr,
        )
        return 2
    log_path = settings.data_dir / "dev.log"
    log = log_to_file(log_path)
    try:
        with stop_signals_raise():
            return _run(settings, log, log_path, host=bind_host, port=port, workers=workers)
    except StopRequested as stop:
        return stop.exit_status
    finally:
        log.close()


def _run(
    settings: Settings, log: IO[bytes], log_path: Path, *, host: str, port: int | None, workers: int
) -> int:
    from api.cli.main import run_api, run_migrate, worker_command, worker_environment
    from db.embedded import EmbeddedPostgres

    embedded: EmbeddedPostgres | None = None
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_url = settings.database_url
        if database_url is None:
            print(f"pgjobs dev: starting Postgres in {settings.data_dir / 'postgres'} ...")
            embedded = EmbeddedPostgres(settings.data_dir / "postgres")
            database_url = embedded.url
        if run_migrate(database_url, quiet=True) != 0:
            return 1
        settings = settings.model_copy(update={"database_url": database_url})
        env = worker_environment(settings, DATABASE_URL=database_url)
        for n in range(workers):
            command = worker_command(concurrency=settings.worker_concurrency)
            processes.append(
                subprocess.Popen(
                    [*command, "--name", f"dev-worker-{n}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # stopped by us, in order, not by the terminal
                )
            )
        bind_port = port or settings.api_port
        base = f"http://{host}:{bind_port}"
        text = banner(
            settings,
            base=base,
            database_url=database_url,
            embedded=embedded is not None,
            workers=workers,
            log=log_path,
        )
        print(text, flush=True)
        run_api(settings, host=host, port=bind_port, log_config=None)
        return 0
    finally:
        with _ignoring_stop_signals():  # a second Ctrl-C must not leave anything behind
            _stop_workers(processes, settings.worker_shutdown_grace_seconds + STOP_MARGIN_SECONDS)
            if embedded is not None:
                embedded.stop()
                print("pgjobs dev: stopped (API, workers, embedded Postgres)", flush=True)
            else:
                print("pgjobs dev: stopped (API, workers)", flush=True)


@contextmanager
def _ignoring_stop_signals() -> Iterator[None]:
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_workers(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
