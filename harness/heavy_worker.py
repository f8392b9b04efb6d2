"""``python -m harness.heavy_worker [flags]``: ``pgjobs worker [flags]`` over the
test app of :mod:`harness.heavy_app` (same CLI, supervisor and settings)."""

from __future__ import annotations

import sys

from api.cli import main as cli

if __name__ == "__main__":
    cli.WORKER_APP = "harness.heavy_app.app"
    sys.exit(cli.main(["worker", *sys.argv[1:]]))
