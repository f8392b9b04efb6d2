"""Run a named query (``db/sql/*.sql``) and get typed rows back: the one way repositories read.

Each repository declares the dataclass of its rows next to its queries; the
row's fields are the statement's column names. psycopg's ``class_row`` builds
one instance per row, so code reading a row is checked by mypy (``row.status``,
never ``row["status"]``), and a statement whose columns drift from its row type
fails at its first execution, with the column named, instead of in a template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from psycopg.rows import class_row

from db.queries import query
from db.types import Connection

T = TypeVar("T")


async def fetch_all(
    conn: Connection,
    name: str,
    row_type: type[T],
    params: Mapping[str, Any] | None = None,
) -> list[T]:
    """Every row of the named query, as ``row_type`` instances."""
    async with conn.cursor(row_factory=class_row(row_type)) as cursor:
        await cursor.execute(query(name), params)
        return await cursor.fetchall()


async def fetch_one(
    conn: Connection,
    name: str,
    row_type: type[T],
    params: Mapping[str, Any] | None = None,
) -> T | None:
    """The first row of the named query as a ``row_type`` instance, or None when it has none."""
    async with conn.cursor(row_factory=class_row(row_type)) as cursor:
        await cursor.execute(query(name), params)
        return await cursor.fetchone()


async def fetch_value(conn: Connection, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row (a count, an id); None when there is no row."""
    async with conn.cursor() as cursor:
        await cursor.execute(query(name), params)
        row = await cursor.fetchone()
    return None if row is None else row[0]
