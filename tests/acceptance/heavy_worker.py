"""``python -m tests.acceptance.heavy_worker [flags]``: ``pgjobs worker [flags]`` over the
test app of :mod:`tests.acceptance.heavy_app` (same CLI, supervisor and settings)."""

from __future__ import annotations

import sys

from api.cli import main as cli

if __name__ == "__main__":
    cli.WORKER_APP = "tests.acceptance.heavy_app.app"
    sys.exit(cli.main(["worker", *sys.argv[1:]]))
