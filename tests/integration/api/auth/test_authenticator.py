"""What a process remembers of a credential, and for how long: revocation within a second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from api.auth import sessions
from api.auth.authenticator import Authenticator
from db.pool import create_pool
from db.types import Pool
from jobs.settings import Settings
from tests.auth import PASSWORD, make_key, make_user

Conn = psycopg.AsyncConnection[Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    opened = create_pool(database_url, min_size=1, max_size=2)
    await opened.open()
    yield opened
    await opened.close()


async def test_a_revoked_key_stops_working_within_the_cache_time(pool: Pool, conn: Conn) -> None:
    clock = Clock()
    authenticator = Authenticator(pool, cache_seconds=1.0, clock=clock)
    token = await make_key(conn, ["jobs:read"], name="ci")
    assert (await authenticator.key(token)) is not None
    await conn.execute("UPDATE pgjobs_api_keys SET revoked_at = now() WHERE name = 'ci'")
    clock.now += 0.99  # still what it read under a second ago: no query
    assert (await authenticator.key(token)) is not None
    assert authenticator.lookups == 1
    clock.now += 0.01  # one second after the read: read again, and refused
    assert (await authenticator.key(token)) is None
    assert authenticator.lookups == 2


def test_the_cache_can_never_be_set_past_one_second(settings: Settings) -> None:
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Settings(database_url=settings.database_url, auth_cache_seconds=1.5)


async def test_unknown_tokens_are_remembered_too_and_memory_is_bounded(
    pool: Pool, conn: Conn
) -> None:
    clock = Clock()
    authenticator = Authenticator(pool, cache_seconds=1.0, clock=clock, max_entries=2)
    unknown = "pgj_" + "B" * 43
    assert await authenticator.key(unknown) is None
    assert await authenticator.key(unknown) is None
    assert authenticator.lookups == 1
    first, second = await make_key(conn), await make_key(conn)
    await authenticator.key(first)
    await authenticator.key(second)  # evicts the unknown token, the least recently used
    assert authenticator.lookups == 3
    await authenticator.key(unknown)
    assert authenticator.lookups == 4


async def test_malformed_tokens_cost_no_query(pool: Pool) -> None:
    authenticator = Authenticator(pool, cache_seconds=1.0)
    for token in ("", "pgj_short", "x" * 47, "pgj_" + "A" * 42 + "!"):
        assert await authenticator.key(token) is None
        assert await authenticator.session(token) is None
    assert authenticator.lookups == 0


async def test_a_session_ends_with_a_logout_its_key_or_its_user(pool: Pool, conn: Conn) -> None:
    clock = Clock()
    authenticator = Authenticator(pool, cache_seconds=1.0, clock=clock)
    await make_user(conn, "ann", "operator")
    user_session = await sessions.login_user(conn, "ann", PASSWORD, lifetime_seconds=60)
    key_session = await sessions.login_key(
        conn, await make_key(conn, ["jobs:read"], name="k"), lifetime_seconds=60
    )
    ann = await authenticator.session(user_session.token)
    assert ann is not None
    assert (ann.name, ann.via) == ("user:ann", "session")
    key = await authenticator.session(key_session.token)
    assert key is not None
    assert key.name == "key:k"

    await conn.execute("UPDATE pgjobs_api_keys SET revoked_at = now() WHERE name = 'k'")
    await conn.execute("DELETE FROM pgjobs_users WHERE name = 'ann'")
    clock.now += 1.0
    assert await authenticator.session(key_session.token) is None
    assert await authenticator.session(user_session.token) is None


async def test_an_own_logout_is_forgotten_at_once(pool: Pool, conn: Conn) -> None:
    authenticator = Authenticator(pool, cache_seconds=1.0, clock=Clock())
    await make_user(conn, "bo")
    session = await sessions.login_user(conn, "bo", PASSWORD, lifetime_seconds=60)
    assert await authenticator.session(session.token) is not None
    await sessions.logout(conn, session.token)
    authenticator.forget_session(session.token)
    assert await authenticator.session(session.token) is None


async def test_a_key_session_lasts_no_longer_than_its_key(conn: Conn) -> None:
    token = await make_key(conn, ["jobs:read"], name="short")
    await conn.execute(
        "UPDATE pgjobs_api_keys SET expires_at = now() + interval '10 minutes' WHERE name = 'short'"
    )
    session = await sessions.login_key(conn, token, lifetime_seconds=12 * 3600)
    row = await (await conn.execute("SELECT expires_at FROM pgjobs_api_keys")).fetchone()
    assert row is not None
    assert session.expires_at <= row[0]


async def test_a_key_without_jobs_read_cannot_open_the_dashboard(conn: Conn) -> None:
    token = await make_key(conn, ["jobs:create"])
    with pytest.raises(sessions.LoginRefused, match="jobs:read"):
        await sessions.login_key(conn, token, lifetime_seconds=60)


async def test_wrong_and_unknown_users_are_refused_alike(conn: Conn) -> None:
    await make_user(conn, "cy")
    with pytest.raises(sessions.LoginRefused) as wrong:
        await sessions.login_user(conn, "cy", PASSWORD + "!", lifetime_seconds=60)
    with pytest.raises(sessions.LoginRefused) as unknown:
        await sessions.login_user(conn, "nobody", PASSWORD, lifetime_seconds=60)
    assert str(wrong.value) == str(unknown.value)
    row = await (await conn.execute("SELECT count(*) FROM pgjobs_sessions")).fetchone()
    assert row == (0,)
