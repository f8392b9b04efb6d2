"""API keys and dashboard users: create, list, revoke, rotate; log in and out.

The use cases behind ``pgjobs keys|users`` and ``/keys``; each validates its
input first (:class:`AccountError` names the field) and writes nothing when it
is bad. A token is returned once, at creation, and never stored.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass

from api.auth import passwords, tokens
from api.auth.scopes import ROLES, UNRESTRICTED_ONLY, InvalidScopes, Scope, parse_scopes
from db import access_store
from db.access_store import ApiKeyRow, NameTaken, UserRow
from db.types import Connection
from jobs.errors import InvalidJobOptions
from jobs.tasks.registry import check_queue

#: Names of keys and users: they appear in ``created_by`` (``key:<name>``) and in logs.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_DURATION = re.compile(r"^(?P<amount>[0-9]{1,6})(?P<unit>[smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest a key may be made to last with ``--expires``.
MAX_LIFETIME = datetime.timedelta(days=3660)


class AccountError(Exception):
    """Bad input to a key or user operation; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class AccountNotFound(Exception):
    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"no {kind} named {name!r}")


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKeyRow
    #: The secret: shown once, never stored.
    token: str


def check_name(name: str, field: str = "name") -> str:
    if not NAME.match(name):
        raise AccountError(
            field, "must be 1-64 letters, digits and _.@- (starting with a letter or digit)"
        )
    return name


def parse_duration(text: str, field: str = "expires") -> datetime.timedelta:
    """``90d``, ``12h``, ``30m`` or ``3600s``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise AccountError(field, "must be a number and a unit: 90d, 12h, 30m or 3600s")
    duration = datetime.timedelta(seconds=int(match["amount"]) * _UNIT_SECONDS[match["unit"]])
    if not datetime.timedelta(0) < duration <= MAX_LIFETIME:
        raise AccountError(field, f"must be more than 0 and at most {MAX_LIFETIME.days} days")
    return duration


def check_queues(names: Iterable[str] | None, field: str = "queues") -> list[str] | None:
    if names is None:
        return None
    queues = sorted({name.strip() for name in names if name.strip()})
    if not queues:
        raise AccountError(field, "give at least one queue (or no restriction at all)")
    try:
        for queue in queues:
            check_queue(queue, field)
    except InvalidJobOptions as error:
        raise AccountError(field, f"{error.message} (got {queue!r})") from None
    return queues


def check_scopes(names: Iterable[str], queues: list[str] | None) -> frozenset[Scope]:
    try:
        scopes = parse_scopes(names)
    except InvalidScopes as error:
        raise AccountError("scopes", str(error)) from None
    if queues is not None and scopes & UNRESTRICTED_ONLY:
        wide = ", ".join(sorted(scopes & UNRESTRICTED_ONLY))
        raise AccountError("scopes", f"{wide} reach every queue: not for a key limited to queues")
    return scopes


async def create_key(
    conn: Connection,
    *,
    name: str,
    scopes: Iterable[str],
    queues: Iterable[str] | None = None,
    expires_in: datetime.timedelta | None = None,
    create_rate_per_second: float | None = None,
    created_by: str | None,
) -> CreatedKey:
    check_name(name)
    queue_list = check_queues(queues)
    scope_set = check_scopes(scopes, queue_list)
    if create_rate_per_second is not None and not 0 < create_rate_per_second <= 1_000_000:
        raise AccountError("rate", "must be more than 0 and at most 1000000 jobs per second")
    token = tokens.new_key_token()
    expires_at = (
        datetime.datetime.now(datetime.UTC) + expires_in if expires_in is not None else None
    )
    try:
        row = await access_store.api_key_insert(
            conn,
            name=name,
            token_prefix=tokens.shown_prefix(token),
            token_hash=tokens.digest(token),
            scopes=sorted(scope_set),
            queues=queue_list,
            create_rate_per_second=create_rate_per_second,
            expires_at=expires_at,
            created_by=created_by,
        )
    except NameTaken:
        raise AccountError(
            "name", f"a key named {name!r} exists (names are never reused, even revoked)"
        ) from None
    return CreatedKey(key=row, token=token)


async def list_keys(conn: Connection, *, include_inactive: bool = False) -> list[ApiKeyRow]:
    return await access_store.api_key_list(conn, include_inactive=include_inactive)


async def revoke_key(conn: Connection, name: str, *, revoked_by: str | None) -> ApiKeyRow:
    """Revoke a live key; every API process refuses it within a second (auth_cache_seconds)."""
    row = await access_store.api_key_revoke(conn, name, revoked_by=revoked_by)
    if row is None:
        raise AccountNotFound("live key", name)
    return row


async def rotate_key(
    conn: Connection,
    name: str,
    *,
    new_name: str,
    grace: datetime.timedelta,
    created_by: str | None,
) -> CreatedKey:
    """A new key with the old one's scopes, queues and rate; the old one expires after ``grace``.

    Both are written in one transaction: the new key exists if and only if the
    old one was given its end. Lifetimes are not copied (give the new key its
    own with ``pgjobs keys create`` semantics if needed).
    """
    async with conn.transaction():
        old = await access_store.api_key_get(conn, name)
        if old is None or old.revoked_at is not None:
            raise AccountNotFound("live key", name)
        created = await create_key(
            conn,
            name=new_name,
            scopes=old.scopes,
            queues=old.queues,
            create_rate_per_second=old.create_rate_per_second,
            created_by=created_by,
        )
        expires_at = datetime.datetime.now(datetime.UTC) + grace
        if await access_store.api_key_expire(conn, name, expires_at=expires_at) is None:
            raise AccountNotFound("live key", name)
    return created


async def create_user(
    conn: Connection,
    *,
    name: str,
    password: str,
    role: str,
    queues: Iterable[str] | None = None,
    created_by: str | None,
) -> UserRow:
    check_name(name)
    if role not in ROLES:
        raise AccountError("role", f"must be one of {', '.join(ROLES)}")
    queue_list = check_queues(queues)
    if queue_list is not None and ROLES[role] & UNRESTRICTED_ONLY:
        raise AccountError("queues", f"a {role} sees every queue: no queue restriction")
    try:
        password_hash = passwords.hash_password(password)
    except passwords.WeakPassword as error:
        raise AccountError("password", str(error)) from None
    try:
        return await access_store.user_insert(
            conn,
            name=name,
            password_hash=password_hash,
            role=role,
            queues=queue_list,
            created_by=created_by,
        )
    except NameTaken:
        raise AccountError("name", f"a user named {name!r} exists") from None


async def list_users(conn: Connection) -> list[UserRow]:
    return await access_store.user_list(conn)


async def set_password(conn: Connection, name: str, password: str) -> None:
    """Replace a user's password and end the user's sessions."""
    try:
        password_hash = passwords.hash_password(password)
    except passwords.WeakPassword as error:
        raise AccountError("password", str(error)) from None
    if not await access_store.user_password_set(
        conn, name, password_hash=password_hash, end_sessions=True
    ):
        raise AccountNotFound("user", name)


async def delete_user(conn: Connection, name: str) -> None:
    if not await access_store.user_delete(conn, name):
        raise AccountNotFound("user", name)
