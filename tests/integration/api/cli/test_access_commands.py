"""``pgjobs keys`` and ``pgjobs users`` against a real database."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from api.auth import tokens
from api.cli import main as cli

Conn = psycopg.Connection[Any]


@pytest.fixture(autouse=True)
def _database(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)


@pytest.fixture
def db(database_url: str) -> Iterator[Conn]:
    """A plain connection (the commands run their own event loop: these tests have none)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def _keys(db: Conn) -> list[tuple[Any, ...]]:
    cursor = db.execute("SELECT name, scopes, queues, revoked_at FROM pgjobs_api_keys")
    return cursor.fetchall()


def test_keys_create_prints_the_token_alone_on_stdout_once(
    db: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["keys", "create", "--name", "ci-bot", "--scopes", "jobs:create,jobs:read",
         "--queues", "llm,video", "--expires", "90d"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    token = out.strip()
    assert tokens.KEY_TOKEN.match(token)
    assert "shown only now" in err
    assert token not in err
    assert _keys(db) == [("ci-bot", ["jobs:create", "jobs:read"], ["llm", "video"], None)]
    row = (db.execute("SELECT token_hash FROM pgjobs_api_keys")).fetchone()
    assert row is not None
    assert bytes(row[0]) == tokens.digest(token)

    assert cli.main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(key["name"], key["state"], key["token_prefix"]) for key in listed] == [
        ("ci-bot", "live", token[:12])
    ]
    assert cli.main(["keys", "list"]) == 0
    table = capsys.readouterr().out
    assert "ci-bot" in table
    assert token[12:] not in table


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--name", "x", "--scopes", "jobs:read,superuser"], "unknown scope(s): superuser"),
        (["--name", "bad name", "--scopes", "jobs:read"], "name: must be"),
        (["--name", "x", "--scopes", "admin", "--queues", "llm"], "not for a key limited"),
        (["--name", "x", "--scopes", "jobs:read", "--expires", "soon"], "expires: must be"),
    ],
)
def test_bad_key_input_exits_2_naming_it_and_writes_nothing(
    db: Conn, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert cli.main(["keys", "create", *arguments]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert _keys(db) == []


def test_keys_revoke_and_rotate(db: Conn, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keys", "create", "--name", "a", "--scopes", "jobs:read"]) == 0
    assert cli.main(["keys", "rotate", "a", "--new-name", "b", "--grace", "2h"]) == 0
    out, err = capsys.readouterr()
    new_token = out.strip().splitlines()[-1]
    assert tokens.KEY_TOKEN.match(new_token)
    assert "to replace 'a'" in err
    assert cli.main(["keys", "revoke", "a"]) == 0
    assert "within a second" in capsys.readouterr().err
    assert cli.main(["keys", "revoke", "a"]) == 2
    assert "no live key named 'a'" in capsys.readouterr().err
    revoked = {name: (revoked_at is not None) for name, _, _, revoked_at in _keys(db)}
    assert revoked == {"a": True, "b": False}
    row = (db.execute("SELECT revoked_by FROM pgjobs_api_keys WHERE name = 'a'")).fetchone()
    assert row is not None
    assert row[0].startswith("cli:")


def test_users_create_from_stdin_list_password_and_delete(
    db: Conn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
    assert (
        cli.main(["users", "create", "--name", "ann", "--role", "operator", "--password-stdin"])
        == 0
    )
    assert "user 'ann' created (operator)" in capsys.readouterr().err
    assert cli.main(["users", "list", "--json"]) == 0
    assert [(u["name"], u["role"]) for u in json.loads(capsys.readouterr().out)] == [
        ("ann", "operator")
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["users", "set-password", "ann", "--password-stdin"]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert cli.main(["users", "set-password", "ann", "--password-stdin"]) == 0
    assert cli.main(["users", "delete", "ann"]) == 0
    assert cli.main(["users", "delete", "ann"]) == 2
    row = (db.execute("SELECT count(*) FROM pgjobs_users")).fetchone()
    assert row == (0,)


def test_a_password_is_never_read_from_a_non_terminal_without_the_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
    assert cli.main(["users", "create", "--name", "ann", "--role", "viewer"]) == 2
    assert "--password-stdin" in capsys.readouterr().err


def test_an_unknown_role_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["users", "create", "--name", "ann", "--role", "root"])
    assert exit_.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_an_unreachable_database_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2")
    assert cli.main(["keys", "list"]) == 1
    assert "database error" in capsys.readouterr().err
