"""Repository for API keys, users and dashboard sessions (db/sql/access.sql).

Secrets never reach this module: callers pass SHA-256 digests of tokens and
argon2 hashes of passwords (``api.auth``). Functions never commit.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from psycopg import errors

from db.queries import query
from db.rows import fetch_all, fetch_one, fetch_value
from db.types import Connection


class NameTaken(Exception):
    """A key or user with this name exists already (names are never reused)."""


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: int
    name: str
    #: The token's first characters (not secret): tells which key a token is.
    token_prefix: str
    scopes: list[str]
    #: None: every queue.
    queues: list[str] | None
    #: None: the API's default rate.
    create_rate_per_second: float | None
    created_at: datetime.datetime
    created_by: str | None
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    revoked_by: str | None
    last_used_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    name: str
    role: str
    queues: list[str] | None
    created_at: datetime.datetime
    created_by: str | None
    password_changed_at: datetime.datetime
    last_login_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class LoginRow:
    id: int
    name: str
    role: str
    queues: list[str] | None
    password_hash: str


@dataclass(frozen=True, slots=True)
class CredentialRow:
    """Who a token (or a session cookie) belongs to, read when a request authenticates."""

    kind: Literal["key", "user"]
    id: int
    name: str
    #: A key's scopes (None for a user: its role says what it may do).
    scopes: list[str] | None
    role: str | None
    queues: list[str] | None
    create_rate_per_second: float | None
    #: When the key (or the session) stops being valid; None: never.
    expires_at: datetime.datetime | None


async def api_key_insert(
    conn: Connection,
    *,
    name: str,
    token_prefix: str,
    token_hash: bytes,
    scopes: Sequence[str],
    queues: Sequence[str] | None,
    create_rate_per_second: float | None,
    expires_at: datetime.datetime | None,
    created_by: str | None,
) -> ApiKeyRow:
    """Raises :class:`NameTaken` when the name is used (by a live or a revoked key)."""
    params = {
        "name": name,
        "token_prefix": token_prefix,
        "token_hash": token_hash,
        "scopes": list(scopes),
        "queues": list(queues) if queues is not None else None,
        "create_rate_per_second": create_rate_per_second,
        "expires_at": expires_at,
        "created_by": created_by,
    }
    try:
        row = await fetch_one(conn, "api_key_insert", ApiKeyRow, params)
    except errors.UniqueViolation as error:
        if error.diag.constraint_name == "pgjobs_api_keys_name_key":
            raise NameTaken(name) from None
        raise
    assert row is not None
    return row


async def api_key_list(conn: Connection, *, include_inactive: bool = False) -> list[ApiKeyRow]:
    return await fetch_all(conn, "api_key_list", ApiKeyRow, {"include_inactive": include_inactive})


async def api_key_get(conn: Connection, name: str) -> ApiKeyRow | None:
    return await fetch_one(conn, "api_key_get", ApiKeyRow, {"name": name})


async def api_key_revoke(
    conn: Connection, name: str, *, revoked_by: str | None
) -> ApiKeyRow | None:
    """The revoked key, or None when no live key has this name."""
    return await fetch_one(
        conn, "api_key_revoke", ApiKeyRow, {"name": name, "revoked_by": revoked_by}
    )


async def api_key_expire(
    conn: Connection, name: str, *, expires_at: datetime.datetime
) -> ApiKeyRow | None:
    """Make a live key expire by ``expires_at`` at the latest; None when none is live."""
    return await fetch_one(
        conn, "api_key_expire", ApiKeyRow, {"name": name, "expires_at": expires_at}
    )


async def api_key_authenticate(conn: Connection, token_hash: bytes) -> CredentialRow | None:
    return await fetch_one(conn, "api_key_authenticate", CredentialRow, {"token_hash": token_hash})


async def user_insert(
    conn: Connection,
    *,
    name: str,
    password_hash: str,
    role: str,
    queues: Sequence[str] | None,
    created_by: str | None,
) -> UserRow:
    """Raises :class:`NameTaken` when a user has this name."""
    params = {
        "name": name,
        "password_hash": password_hash,
        "role": role,
        "queues": list(queues) if queues is not None else None,
        "created_by": created_by,
    }
    try:
        row = await fetch_one(conn, "user_insert", UserRow, params)
    except errors.UniqueViolation as error:
        if error.diag.constraint_name == "pgjobs_users_name_key":
            raise NameTaken(name) from None
        raise
    assert row is not None
    return row


async def user_list(conn: Connection) -> list[UserRow]:
    return await fetch_all(conn, "user_list", UserRow)


async def user_get_for_login(conn: Connection, name: str) -> LoginRow | None:
    return await fetch_one(conn, "user_get_for_login", LoginRow, {"name": name})


async def user_password_set(
    conn: Connection, name: str, *, password_hash: str, end_sessions: bool
) -> bool:
    """False when no user has this name."""
    cursor = await conn.execute(
        query("user_password_set"),
        {"name": name, "password_hash": password_hash, "end_sessions": end_sessions},
    )
    return await cursor.fetchone() is not None


async def user_delete(conn: Connection, name: str) -> bool:
    """False when no user has this name."""
    cursor = await conn.execute(query("user_delete"), {"name": name})
    return await cursor.fetchone() is not None


async def session_insert(
    conn: Connection,
    *,
    token_hash: bytes,
    user_id: int | None,
    api_key_id: int | None,
    lifetime_seconds: float,
) -> datetime.datetime:
    """Start a session; returns when it expires."""
    expires_at: datetime.datetime = await fetch_value(
        conn,
        "session_insert",
        {
            "token_hash": token_hash,
            "user_id": user_id,
            "api_key_id": api_key_id,
            "lifetime_seconds": lifetime_seconds,
        },
    )
    return expires_at


async def session_authenticate(conn: Connection, token_hash: bytes) -> CredentialRow | None:
    return await fetch_one(conn, "session_authenticate", CredentialRow, {"token_hash": token_hash})


async def session_delete(conn: Connection, token_hash: bytes) -> None:
    await conn.execute(query("session_delete"), {"token_hash": token_hash})
