"""Queries behind /health: is the server there, is the schema current, are workers alive."""

from __future__ import annotations

from psycopg import errors
from psycopg.rows import dict_row

from db.queries import query
from db.types import Connection, Row


async def server_ping(conn: Connection) -> None:
    await conn.execute(query("server_ping"))


async def schema_revision(conn: Connection) -> str | None:
    """The alembic revision of the database, or None when it was never migrated."""
    try:
        async with conn.transaction(), conn.cursor() as cursor:
            await cursor.execute(query("schema_revision"))
            row = await cursor.fetchone()
    except errors.UndefinedTable:
        return None
    return None if row is None else str(row[0])


async def worker_list(conn: Connection) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("worker_list"))
        return await cursor.fetchall()


async def schema_objects(conn: Connection) -> list[tuple[str, str, str]]:
    """Every object of the current schema as ``(kind, name, definition)``, sorted."""
    async with conn.cursor() as cursor:
        await cursor.execute(query("schema_objects"))
        return [
            (str(kind), str(name), str(definition))
            for kind, name, definition in await cursor.fetchall()
        ]
