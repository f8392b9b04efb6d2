"""Run alembic from code (``pgjobs migrate``, the dev command, tests).

Revisions live inside the ``migrations`` package so an installed pgjobs (the
Docker image) can migrate without the repository's ``alembic.ini``. Importing
this module imports alembic and SQLAlchemy: the API process never does (it
learns the head revision from :mod:`migrations.head`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent


def sqlalchemy_url(database_url: str) -> str:
    """Turn a libpq URL into the SQLAlchemy URL of the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql:// or postgres://")


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def stamp(database_url: str, revision: str) -> None:
    command.stamp(alembic_config(database_url), revision)
