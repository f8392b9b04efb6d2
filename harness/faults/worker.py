"""``python -m harness.faults.worker``: ``pgjobs worker``'s supervisor, over the fault-test app.

The same :class:`api.cli.supervisor.Supervisor` that ``pgjobs worker`` runs, with the
same procrastinate CLI worker, only loading ``harness.faults.recording.app``.
"""

from __future__ import annotations

import logging
import sys

from api.cli.supervisor import STOP_MARGIN_SECONDS, Backoff, Supervisor
from jobs.settings import load_settings

#: Quick restarts keep the fault suite short; the policy is the same as in production.
BACKOFF = Backoff(initial=0.5, factor=2.0, maximum=5.0, healthy_after=10.0)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings()
    command = [
        sys.executable,
        "-m",
        "procrastinate",
        "--app=harness.faults.recording.app",
        "worker",
        "--concurrency",
        str(settings.worker_concurrency),
    ]
    stop_timeout = settings.worker_shutdown_grace_seconds + STOP_MARGIN_SECONDS
    return Supervisor(command, stop_timeout=stop_timeout, backoff=BACKOFF).run()


if __name__ == "__main__":
    sys.exit(main())
