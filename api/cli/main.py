"""The ``pgjobs`` command: dev, migrate, api, worker, keys, users.

Exit codes: 0 success, 2 bad usage or settings (argparse's convention),
1 a runtime failure (database unreachable, migration failed).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn

from api.cli import access
from api.cli.supervisor import STOP_MARGIN_SECONDS, Supervisor
from jobs.settings import Settings, SettingsError, load_settings
from jobs.tasks.modules import DEMO_MODULE, TaskModuleError, load_task_modules

logger = logging.getLogger("pgjobs")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pgjobs", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser(
        "dev", help="API + worker; on an embedded Postgres when DATABASE_URL is unset"
    )
    dev.add_argument("--host", default=None)
    dev.add_argument("--port", type=int, default=None)
    dev.add_argument("--workers", type=int, default=1, help="worker processes (0: none)")
    _tasks_option(dev, "default: PGJOBS_TASK_MODULES, else the demo tasks (jobs.examples)")

    migrate = commands.add_parser("migrate", help="alembic upgrade to head (or --revision)")
    migrate.add_argument("--revision", default="head")

    api = commands.add_parser("api", help="serve the HTTP API with uvicorn")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    _tasks_option(api, "tasks it validates itself; others come from the task catalog")

    worker = commands.add_parser(
        "worker", help="run a procrastinate worker for jobs.app, restarted whenever it dies"
    )
    worker.add_argument("--queues", default="", help="comma-separated queues (default: all)")
    worker.add_argument("--concurrency", type=int, default=None, help="jobs per process")
    worker.add_argument(
        "--processes",
        type=int,
        default=None,
        help="worker processes side by side, each restarted on its own (default: 1)",
    )
    worker.add_argument(
        "--name", default=None, help="names the processes <name>#1..N (default: <host>:<pid>)"
    )
    worker.add_argument(
        "--max-jobs-per-process",
        type=int,
        default=None,
        metavar="N",
        help="recycle a process after N jobs (it finishes its running jobs, then is replaced)",
    )
    worker.add_argument(
        "--max-memory-per-process",
        default=None,
        metavar="SIZE",
        help="recycle a process whose resident memory passed SIZE (e.g. 512MiB, 2GB)",
    )
    _tasks_option(worker, "default: PGJOBS_TASK_MODULES")

    access.add_commands(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        tasks = getattr(args, "tasks", None)
        overrides = _worker_overrides(args) if args.command == "worker" else {}
        if tasks is not None:
            overrides["task_modules"] = tasks
        settings = load_settings(**overrides)
        if args.command == "dev" and not settings.task_modules:
            settings = settings.model_copy(update={"task_modules": (DEMO_MODULE,)})
        if args.command in ("dev", "api", "worker"):
            # before anything starts: a module that cannot be loaded is a usage error
            load_task_modules(settings.task_modules)
        if args.command == "dev":
            from api.cli.dev import run_dev

            return run_dev(settings, host=args.host, port=args.port, workers=args.workers)
        if args.command == "migrate":
            return run_migrate(settings.require_database_url(), args.revision)
        if args.command == "api":
            return run_api(settings, host=args.host, port=args.port)
        if args.command in ("keys", "users"):
            return access.run(args.command, args, settings.require_database_url())
        return run_worker(settings, queues=args.queues, name=args.name)
    except (SettingsError, TaskModuleError) as error:
        print(f"pgjobs: {error}", file=sys.stderr)
        return 2


def _tasks_option(command: argparse.ArgumentParser, default: str) -> None:
    command.add_argument(
        "--tasks",
        default=None,
        metavar="MODULES",
        help=f"comma-separated task modules to import, e.g. myapp.tasks ({default})",
    )


def _worker_overrides(args: argparse.Namespace) -> dict[str, object]:
    """``pgjobs worker`` flags given on the command line, as settings (validated with them)."""
    flags = {
        "worker_concurrency": args.concurrency,
        "worker_processes": args.processes,
        "worker_max_jobs_per_process": args.max_jobs_per_process,
        "worker_max_memory_per_process": args.max_memory_per_process,
    }
    return {name: value for name, value in flags.items() if value is not None}


def run_migrate(database_url: str, revision: str = "head", *, quiet: bool = False) -> int:
    from migrations import runner

    try:
        runner.upgrade(database_url, revision)
    except Exception as error:
        print(f"pgjobs migrate: failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if not quiet:
        print(f"pgjobs migrate: database at {revision}")
    return 0


def run_api(
    settings: Settings,
    *,
    host: str | None,
    port: int | None,
    log_config: dict[str, Any] | str | None = uvicorn.config.LOGGING_CONFIG,
) -> int:
    """Serve the API; ``log_config=None`` leaves uvicorn's logs to the logging set up here."""
    from api.app import create_app

    bind_host = host or settings.api_host
    if settings.auth == "off" and not is_loopback(bind_host):
        print(
            f"pgjobs: PGJOBS_AUTH=off serves loopback only; refusing to listen on {bind_host}. "
            "Create an API key (pgjobs keys create) and leave authentication on.",
            file=sys.stderr,
        )
        return 2
    uvicorn.run(
        create_app(settings),
        host=bind_host,
        port=port or settings.api_port,
        log_level="info",
        log_config=log_config,
        # behind a TLS proxy: its X-Forwarded-Proto makes session cookies Secure
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the API on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: The procrastinate app ``pgjobs worker`` runs (tests point it at an app of test tasks).
WORKER_APP = "jobs.app"


def worker_command(queues: str = "", concurrency: int | None = None) -> list[str]:
    """The plain procrastinate CLI invocation pgjobs runs (and documents)."""
    command = [sys.executable, "-m", "procrastinate", f"--app={WORKER_APP}", "worker"]
    if queues:
        command += ["--queues", queues]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    return command


def run_worker(settings: Settings, *, queues: str, name: str | None = None) -> int:
    """Run ``worker_processes`` procrastinate CLI workers, after refusing unknown queues.

    Each child reads its settings from the environment; the flags given here
    reach it there (``PGJOBS_WORKER_*``), already validated.
    """
    import jobs.maintenance.tasks  # noqa: F401  (its queue is known too)
    from jobs.errors import InvalidJobOptions
    from jobs.tasks.registry import registry
    from jobs.tasks.routing import UnknownQueues, known_queues, worker_queues

    settings.require_database_url()
    try:
        worker_queues(queues, known_queues(registry, settings.extra_queues))
    except (UnknownQueues, InvalidJobOptions) as error:
        print(f"pgjobs worker: {error}", file=sys.stderr)
        return 2
    command = worker_command(queues, settings.worker_concurrency)
    # supervised: restarted with backoff when they die; SIGTERM/SIGINT stop them gracefully
    stop_timeout = settings.worker_shutdown_grace_seconds + STOP_MARGIN_SECONDS
    supervisor = Supervisor(
        command,
        stop_timeout=stop_timeout,
        env=worker_environment(settings),
        processes=settings.worker_processes,
        name=name,
    )
    return supervisor.run()


def worker_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker process: ours, with the task modules resolved here, and
    the recycling limits as the children's settings read them."""
    env = {**os.environ, "PGJOBS_TASK_MODULES": ",".join(settings.task_modules)}
    if settings.worker_max_jobs_per_process is not None:
        env["PGJOBS_WORKER_MAX_JOBS_PER_PROCESS"] = str(settings.worker_max_jobs_per_process)
    if settings.worker_max_memory_per_process is not None:
        env["PGJOBS_WORKER_MAX_MEMORY_PER_PROCESS"] = str(
            int(settings.worker_max_memory_per_process)
        )
    return {**env, **extra}


if __name__ == "__main__":
    sys.exit(main())
