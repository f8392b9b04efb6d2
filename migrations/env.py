"""Alembic environment: runs revisions online against the configured database.

The URL is taken, in order, from ``config.attributes["database_url"]`` (set
by :func:`migrations.runner.upgrade`), ``-x database_url=...`` on the alembic
command line, then ``DATABASE_URL``. It is never logged: it may hold a password.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from migrations.runner import sqlalchemy_url


def _database_url() -> str:
    config = context.config
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "database_url"
    )
    url = url or os.environ.get("DATABASE_URL") or os.environ.get("PGJOBS_DATABASE_URL")
    if not url:
        raise SystemExit(
            "alembic: no database given; set DATABASE_URL or pass -x database_url=postgresql://..."
        )
    return str(url)


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(_database_url()), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=None, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("pgjobs migrations run online only (they execute procrastinate's SQL files)")
run_migrations_online()
