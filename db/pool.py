"""The one connection pool of a pgjobs process.

The API and procrastinate share it (``App.open_async(pool)``), so a request
can write its own rows and defer a job on a single connection and commit once.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

#: Name shown in ``pg_stat_activity.application_name`` for pgjobs connections.
APPLICATION_NAME = "pgjobs"


def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    application_name: str = APPLICATION_NAME,
    **pool_kwargs: Any,
) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
    """Build (but do not open) an async pool; the caller opens it in its lifespan.

    ``check`` makes the pool test a connection before handing it out, so a
    pool survives a Postgres restart: dead connections are replaced instead
    of failing the next request.
    """
    pool_kwargs.setdefault("check", AsyncConnectionPool.check_connection)
    return AsyncConnectionPool(
        conninfo=database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"application_name": application_name},
        open=False,
        **pool_kwargs,
    )
