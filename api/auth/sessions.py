"""Dashboard sessions: log in with a user's password or an API key, log out.

The session cookie holds 256 random bits; Postgres keeps their SHA-256
(``pgjobs_sessions``), so a session works on every API process and ends on all
of them within a second of a logout, a key's revocation or a user's deletion.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from api.auth import passwords, tokens
from api.auth.principal import from_credential
from api.auth.scopes import Scope
from db import access_store
from db.types import Connection


@dataclass(frozen=True, slots=True)
class NewSession:
    #: The cookie's value (never stored).
    token: str
    expires_at: datetime.datetime


class LoginRefused(Exception):
    """Wrong name or password, or a key that is not valid for the dashboard."""


async def login_user(
    conn: Connection, name: str, password: str, *, lifetime_seconds: float
) -> NewSession:
    """Check a user's password (an unknown name costs the same time) and start a session."""
    row = await access_store.user_get_for_login(conn, name)
    if not await passwords.verify(row.password_hash if row else None, password):
        raise LoginRefused("wrong user name or password")
    assert row is not None
    if passwords.needs_rehash(row.password_hash):
        await access_store.user_password_set(
            conn, name, password_hash=passwords.hash_password(password), end_sessions=False
        )
    return await _start(conn, user_id=row.id, api_key_id=None, lifetime=lifetime_seconds)


async def login_key(conn: Connection, token: str, *, lifetime_seconds: float) -> NewSession:
    """Start a session for an API key that may read jobs; it lasts no longer than the key."""
    row = None
    if tokens.KEY_TOKEN.match(token):
        row = await access_store.api_key_authenticate(conn, tokens.digest(token))
    if row is None:
        raise LoginRefused("this API key is not valid (revoked, expired or mistyped)")
    if not from_credential(row, "session").can(Scope.JOBS_READ):
        raise LoginRefused(f"this API key lacks the {Scope.JOBS_READ} scope the dashboard needs")
    return await _start(conn, user_id=None, api_key_id=row.id, lifetime=lifetime_seconds)


async def logout(conn: Connection, token: str) -> None:
    await access_store.session_delete(conn, tokens.digest(token))


async def _start(
    conn: Connection, *, user_id: int | None, api_key_id: int | None, lifetime: float
) -> NewSession:
    token = tokens.new_session_token()
    expires_at = await access_store.session_insert(
        conn,
        token_hash=tokens.digest(token),
        user_id=user_id,
        api_key_id=api_key_id,
        lifetime_seconds=lifetime,
    )
    return NewSession(token=token, expires_at=expires_at)
