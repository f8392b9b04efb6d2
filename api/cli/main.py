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
    worker.add_argument("--concurrency", type=int, default=None)
    _tasks_option(worker, "default: PGJOBS_TASK_MODULES")

    access.add_commands(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        tasks = getattr(args, "tasks", None)
        settings = load_settings(**({"task_modules": tasks} if tasks is not None else {}))
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
        return run_worker(settings, queues=args.queues, concurrency=args.concurrency)
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


def worker_command(queues: str = "", concurrency: int | None = None) -> list[str]:
    """The plain procrastinate CLI invocation pgjobs runs (and documents)."""
    command = [sys.executable, "-m", "procrastinate", "--app=jobs.app", "worker"]
    if queues:
        command += ["--queues", queues]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    return command


def run_worker(settings: Settings, *, queues: str, concurrency: int | None) -> int:
    """Run the procrastinate CLI worker, after refusing queues it would never find jobs in."""
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
    command = worker_command(queues, concurrency or settings.worker_concurrency)
    # supervised: restarted with backoff when it dies; SIGTERM/SIGINT stop it gracefully
    stop_timeout = settings.worker_shutdown_grace_seconds + STOP_MARGIN_SECONDS
    return Supervisor(command, stop_timeout=stop_timeout, env=worker_environment(settings)).run()


def worker_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker process: ours, with the task modules resolved here."""
    return {**os.environ, "PGJOBS_TASK_MODULES": ",".join(settings.task_modules), **extra}


if __name__ == "__main__":
    sys.exit(main())
