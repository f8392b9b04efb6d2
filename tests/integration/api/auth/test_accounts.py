"""API keys and users in Postgres: hashes only, names never reused, bad input writes nothing."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
import pytest

from api.auth import accounts, tokens
from api.auth.accounts import AccountError, AccountNotFound
from db import access_store

Conn = psycopg.AsyncConnection[Any]


async def _count(conn: Conn, table: str) -> int:
    assert table in {"pgjobs_api_keys", "pgjobs_users", "pgjobs_sessions"}
    row = await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_key_is_stored_as_a_hash_and_its_token_is_returned_once(conn: Conn) -> None:
    created = await accounts.create_key(
        conn,
        name="ci-bot",
        scopes=["jobs:create", "jobs:read"],
        queues=["video", "llm"],
        expires_in=datetime.timedelta(days=90),
        created_by="cli:ops",
    )
    key = created.key
    assert key.name == "ci-bot"
    assert key.scopes == ["jobs:create", "jobs:read"]
    assert key.queues == ["llm", "video"]
    assert key.token_prefix == created.token[:12]
    assert key.expires_at is not None
    assert datetime.timedelta(days=89) < key.expires_at - key.created_at
    # nothing in the table holds the token: only its SHA-256
    dump = await (
        await conn.execute("SELECT row_to_json(k)::text FROM pgjobs_api_keys k")
    ).fetchone()
    assert dump is not None
    assert created.token not in dump[0]
    assert created.token[12:] not in dump[0]
    stored = await (await conn.execute("SELECT token_hash FROM pgjobs_api_keys")).fetchone()
    assert stored is not None
    assert bytes(stored[0]) == tokens.digest(created.token)


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"name": "bad name"}, "name", "letters, digits"),
        ({"name": "x\nkey"}, "name", "letters, digits"),
        ({"scopes": ["jobs:read", "root"]}, "scopes", "unknown scope"),
        ({"scopes": []}, "scopes", "at least one"),
        ({"queues": ["ll\tm"]}, "queues", "letters, digits"),
        ({"queues": [" "]}, "queues", "at least one queue"),
        ({"scopes": ["admin"], "queues": ["llm"]}, "scopes", "not for a key limited to queues"),
        ({"scopes": ["metrics:read"], "queues": ["llm"]}, "scopes", "reach every queue"),
        ({"create_rate_per_second": 0}, "rate", "more than 0"),
    ],
)
async def test_bad_key_input_names_the_field_and_writes_nothing(
    conn: Conn, options: dict[str, Any], field: str, message: str
) -> None:
    arguments: dict[str, Any] = {"name": "k", "scopes": ["jobs:read"], **options}
    with pytest.raises(AccountError, match=message) as error:
        await accounts.create_key(conn, created_by=None, **arguments)
    assert error.value.field == field
    assert await _count(conn, "pgjobs_api_keys") == 0


@pytest.mark.parametrize("text", ["", "90", "d", "-1d", "0d", "99999d", "1w", "1.5h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(AccountError, match="expires"):
        accounts.parse_duration(text)


def test_durations_read_as_people_write_them() -> None:
    assert accounts.parse_duration("90d") == datetime.timedelta(days=90)
    assert accounts.parse_duration("12h") == datetime.timedelta(hours=12)
    assert accounts.parse_duration(" 30m ") == datetime.timedelta(minutes=30)


async def test_key_names_are_never_reused_even_after_revocation(conn: Conn) -> None:
    await accounts.create_key(conn, name="ci", scopes=["jobs:read"], created_by=None)
    revoked = await accounts.revoke_key(conn, "ci", revoked_by="cli:ops")
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == "cli:ops"
    with pytest.raises(AccountError, match="never reused"):
        await accounts.create_key(conn, name="ci", scopes=["jobs:read"], created_by=None)
    with pytest.raises(AccountNotFound):
        await accounts.revoke_key(conn, "ci", revoked_by=None)  # already revoked
    assert [key.name for key in await accounts.list_keys(conn)] == []
    assert [key.name for key in await accounts.list_keys(conn, include_inactive=True)] == ["ci"]


async def test_a_revoked_or_expired_key_does_not_authenticate(conn: Conn) -> None:
    live = await accounts.create_key(conn, name="live", scopes=["jobs:read"], created_by=None)
    gone = await accounts.create_key(conn, name="gone", scopes=["jobs:read"], created_by=None)
    old = await accounts.create_key(conn, name="old", scopes=["jobs:read"], created_by=None)
    await accounts.revoke_key(conn, "gone", revoked_by=None)
    await conn.execute(
        "UPDATE pgjobs_api_keys SET expires_at = now() - interval '1 second' WHERE name = 'old'"
    )
    found = await access_store.api_key_authenticate(conn, tokens.digest(live.token))
    assert found is not None
    assert (found.kind, found.name, found.scopes) == ("key", "live", ["jobs:read"])
    assert await access_store.api_key_authenticate(conn, tokens.digest(gone.token)) is None
    assert await access_store.api_key_authenticate(conn, tokens.digest(old.token)) is None


async def test_last_use_is_recorded_at_most_once_a_minute(conn: Conn) -> None:
    created = await accounts.create_key(conn, name="busy", scopes=["jobs:read"], created_by=None)
    digest = tokens.digest(created.token)
    await access_store.api_key_authenticate(conn, digest)
    first = (await accounts.list_keys(conn))[0].last_used_at
    assert first is not None
    await access_store.api_key_authenticate(conn, digest)
    assert (await accounts.list_keys(conn))[0].last_used_at == first


async def test_rotation_gives_a_new_key_the_same_rights_and_ends_the_old_one(conn: Conn) -> None:
    await accounts.create_key(
        conn,
        name="ci-1",
        scopes=["jobs:create", "jobs:read"],
        queues=["llm"],
        create_rate_per_second=5,
        created_by=None,
    )
    created = await accounts.rotate_key(
        conn, "ci-1", new_name="ci-2", grace=datetime.timedelta(hours=1), created_by="cli:ops"
    )
    assert (created.key.name, created.key.scopes, created.key.queues) == (
        "ci-2",
        ["jobs:create", "jobs:read"],
        ["llm"],
    )
    assert created.key.create_rate_per_second == 5
    old = await access_store.api_key_get(conn, "ci-1")
    assert old is not None
    assert old.expires_at is not None
    left = old.expires_at - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=59) < left <= datetime.timedelta(hours=1)


async def test_rotating_an_unknown_key_creates_nothing(conn: Conn) -> None:
    with pytest.raises(AccountNotFound):
        await accounts.rotate_key(
            conn, "nope", new_name="new", grace=datetime.timedelta(hours=1), created_by=None
        )
    assert await _count(conn, "pgjobs_api_keys") == 0


async def test_a_user_is_stored_with_an_argon2id_hash(conn: Conn) -> None:
    user = await accounts.create_user(
        conn, name="alice", password="a long enough password", role="viewer", created_by="cli"
    )
    assert (user.name, user.role, user.queues) == ("alice", "viewer", None)
    row = await (await conn.execute("SELECT password_hash FROM pgjobs_users")).fetchone()
    assert row is not None
    assert row[0].startswith("$argon2id$")
    assert "a long enough password" not in row[0]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "has a\x00nul character"}, "password"),
        ({"role": "root"}, "role"),
        ({"name": "al ice"}, "name"),
        ({"role": "admin", "queues": ["llm"]}, "queues"),
    ],
)
async def test_bad_user_input_names_the_field_and_writes_nothing(
    conn: Conn, options: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {
        "name": "alice",
        "password": "a long enough password",
        "role": "viewer",
        **options,
    }
    with pytest.raises(AccountError) as error:
        await accounts.create_user(conn, created_by=None, **arguments)
    assert error.value.field == field
    assert await _count(conn, "pgjobs_users") == 0


async def test_user_names_are_unique(conn: Conn) -> None:
    await accounts.create_user(
        conn, name="bob", password="a long enough password", role="admin", created_by=None
    )
    with pytest.raises(AccountError, match="exists"):
        await accounts.create_user(
            conn, name="bob", password="another long password", role="viewer", created_by=None
        )
