"""Server and schema checks: is the server there, is the schema at the expected revision."""

from __future__ import annotations

from psycopg import errors

from db.queries import query
from db.types import Connection


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


async def schema_objects(conn: Connection) -> list[tuple[str, str, str]]:
    """Every object of the current schema as ``(kind, name, definition)``, sorted."""
    async with conn.cursor() as cursor:
        await cursor.execute(query("schema_objects"))
        return [
            (str(kind), str(name), str(definition))
            for kind, name, definition in await cursor.fetchall()
        ]
