"""The API starts without the libraries it does not need to serve.

Start-up time itself is measured by ``bench/startup.py``; this guards its causes: a fresh
interpreter imports ``api.main``, builds the app and runs its lifespan against a real
database, then lists what got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

#: Packages the API never needs to start. alembic and SQLAlchemy (with mako and pygments
#: under them) only migrate; jinja2 renders dashboard pages, loaded on the first one.
NOT_AT_STARTUP = ("alembic", "sqlalchemy", "mako", "pygments", "jinja2")

STARTUP = """
import asyncio, json, sys

import api.main
from api.app import create_app
from jobs.settings import Settings

async def start_and_stop() -> None:
    app = create_app(Settings(database_url=sys.argv[1], environment="test"))
    async with app.router.lifespan_context(app):
        assert app.state.observability.monitor.last.database.at_head

asyncio.run(start_and_stop())
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_starting_the_api_imports_no_migration_or_template_library(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", STARTUP, database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a liveness bound on a loaded machine, not a figure
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"fastapi", "procrastinate", "psycopg_pool"} <= imported  # it did start the API
    assert imported.isdisjoint(NOT_AT_STARTUP), imported & set(NOT_AT_STARTUP)
