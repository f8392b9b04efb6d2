"""``pgjobs keys`` and ``pgjobs users``: API keys and dashboard users, from the shell.

A new key's token is printed once, alone on stdout (``TOKEN=$(pgjobs keys create
...)`` captures it); everything else goes to stderr. Passwords are read from
the terminal (twice), or from stdin with ``--password-stdin``; never from the
command line, where ``ps`` and shell history would show them.

Exit codes: 0 done, 2 bad input (the message names it), 1 the database failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

import psycopg

from api.auth import accounts
from api.auth.accounts import AccountError, AccountNotFound
from api.auth.scopes import ROLES, Scope
from db.access_store import ApiKeyRow, UserRow
from db.types import Connection


def add_commands(commands: Any) -> None:
    """Add ``keys`` and ``users`` to the ``pgjobs`` parser's subcommands."""
    keys = commands.add_parser("keys", help="API keys: create, list, revoke, rotate")
    key_commands = keys.add_subparsers(dest="action", required=True)
    create = key_commands.add_parser("create", help="create a key; prints its token once")
    create.add_argument("--name", required=True, help="unique, never reused (e.g. ci-bot)")
    create.add_argument(
        "--scopes",
        required=True,
        help=f"comma-separated: {', '.join(scope.value for scope in Scope)}",
    )
    create.add_argument("--queues", help="only these queues' jobs (comma-separated)")
    create.add_argument("--expires", help="lifetime: 90d, 12h, 30m (default: none)")
    create.add_argument("--rate", type=float, help="jobs it may create per second")
    listing = key_commands.add_parser("list", help="list live keys (never their tokens)")
    listing.add_argument("--all", action="store_true", help="revoked and expired ones too")
    listing.add_argument("--json", action="store_true")
    revoke = key_commands.add_parser("revoke", help="revoke a key (everywhere within 1 s)")
    revoke.add_argument("name")
    rotate = key_commands.add_parser(
        "rotate", help="a new key with the same scopes; the old one expires after --grace"
    )
    rotate.add_argument("name")
    rotate.add_argument("--new-name", required=True)
    rotate.add_argument("--grace", default="1h", help="how long the old key keeps working")

    users = commands.add_parser("users", help="dashboard users: create, list, password, delete")
    user_commands = users.add_subparsers(dest="action", required=True)
    user_create = user_commands.add_parser("create", help="create a dashboard user")
    user_create.add_argument("--name", required=True)
    user_create.add_argument("--role", required=True, choices=sorted(ROLES))
    user_create.add_argument("--queues", help="only these queues' jobs (comma-separated)")
    user_create.add_argument("--password-stdin", action="store_true")
    user_list = user_commands.add_parser("list", help="list users")
    user_list.add_argument("--json", action="store_true")
    password = user_commands.add_parser("set-password", help="new password; ends its sessions")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true")
    delete = user_commands.add_parser("delete", help="delete a user and its sessions")
    delete.add_argument("name")


def run(command: str, args: argparse.Namespace, database_url: str) -> int:
    """Run ``pgjobs keys|users <action>``; returns the exit code."""
    actor = f"cli:{getpass.getuser()}"
    try:
        action = _action(command, args, actor)
        return asyncio.run(_with_connection(database_url, action))
    except (AccountError, AccountNotFound) as error:
        print(f"pgjobs {command} {args.action}: {error}", file=sys.stderr)
        return 2
    except psycopg.Error as error:
        print(f"pgjobs {command} {args.action}: database error: {error}", file=sys.stderr)
        return 1


Action = Callable[[Connection], Awaitable[int]]


async def _with_connection(database_url: str, action: Action) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await action(conn)


def _split(text: str | None) -> list[str] | None:
    return None if text is None else text.split(",")


def _action(command: str, args: argparse.Namespace, actor: str) -> Action:
    """Validate what needs no database now (a bad password fails before connecting)."""
    if command == "keys":
        return _key_action(args, actor)
    if args.action == "create":
        password = _password(args.password_stdin, confirm=True)
        return lambda conn: _create_user(conn, args, password, actor)
    if args.action == "set-password":
        password = _password(args.password_stdin, confirm=True)

        async def set_password(conn: Connection) -> int:
            await accounts.set_password(conn, args.name, password)
            print(f"password of user {args.name!r} changed; its sessions ended", file=sys.stderr)
            return 0

        return set_password
    if args.action == "delete":

        async def delete(conn: Connection) -> int:
            await accounts.delete_user(conn, args.name)
            print(f"user {args.name!r} deleted; its sessions ended", file=sys.stderr)
            return 0

        return delete

    async def list_users(conn: Connection) -> int:
        _print_users(await accounts.list_users(conn), as_json=args.json, out=sys.stdout)
        return 0

    return list_users


def _key_action(args: argparse.Namespace, actor: str) -> Action:
    if args.action == "create":
        expires = accounts.parse_duration(args.expires) if args.expires else None

        async def create(conn: Connection) -> int:
            created = await accounts.create_key(
                conn,
                name=args.name,
                scopes=args.scopes.split(","),
                queues=_split(args.queues),
                expires_in=expires,
                create_rate_per_second=args.rate,
                created_by=actor,
            )
            _announce(created, "created")
            return 0

        return create
    if args.action == "revoke":

        async def revoke(conn: Connection) -> int:
            await accounts.revoke_key(conn, args.name, revoked_by=actor)
            print(
                f"key {args.name!r} revoked: every API process refuses it within a second",
                file=sys.stderr,
            )
            return 0

        return revoke
    if args.action == "rotate":
        grace = accounts.parse_duration(args.grace, "grace")

        async def rotate(conn: Connection) -> int:
            created = await accounts.rotate_key(
                conn, args.name, new_name=args.new_name, grace=grace, created_by=actor
            )
            _announce(created, f"created to replace {args.name!r} (which expires in {grace})")
            return 0

        return rotate

    async def list_keys(conn: Connection) -> int:
        rows = await accounts.list_keys(conn, include_inactive=args.all)
        _print_keys(rows, as_json=args.json, out=sys.stdout)
        return 0

    return list_keys


def _announce(created: accounts.CreatedKey, what: str) -> None:
    key = created.key
    queues = ", ".join(key.queues) if key.queues else "all queues"
    print(created.token)
    print(
        f"key {key.name!r} {what}: scopes {', '.join(key.scopes)}; {queues}"
        f"{f'; expires {key.expires_at:%Y-%m-%d %H:%M} UTC' if key.expires_at else ''}.\n"
        "The token above is shown only now: store it (only its hash is kept).",
        file=sys.stderr,
    )


async def _create_user(
    conn: Connection, args: argparse.Namespace, password: str, actor: str
) -> int:
    user = await accounts.create_user(
        conn,
        name=args.name,
        password=password,
        role=args.role,
        queues=_split(args.queues),
        created_by=actor,
    )
    print(f"user {user.name!r} created ({user.role})", file=sys.stderr)
    return 0


def _password(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AccountError("password", "no terminal to ask on: pipe it in with --password-stdin")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise AccountError("password", "the two passwords differ")
    return password


def _when(moment: datetime.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def _key_state(key: ApiKeyRow) -> str:
    if key.revoked_at:
        return "revoked"
    if key.expires_at and key.expires_at <= datetime.datetime.now(datetime.UTC):
        return "expired"
    return "live"


def _print_keys(rows: list[ApiKeyRow], *, as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump(
            [
                {
                    "name": key.name,
                    "token_prefix": key.token_prefix,
                    "state": _key_state(key),
                    "scopes": key.scopes,
                    "queues": key.queues,
                    "create_rate_per_second": key.create_rate_per_second,
                    "created_at": key.created_at.isoformat(),
                    "created_by": key.created_by,
                    "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                    "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
                    "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
                }
                for key in rows
            ],
            out,
            indent=2,
        )
        out.write("\n")
        return
    header = ("NAME", "PREFIX", "STATE", "SCOPES", "QUEUES", "EXPIRES", "LAST USED")
    lines = [
        (
            key.name,
            key.token_prefix + "...",
            _key_state(key),
            ",".join(key.scopes),
            ",".join(key.queues) if key.queues else "*",
            _when(key.expires_at),
            _when(key.last_used_at),
        )
        for key in rows
    ]
    _table(header, lines, out)


def _print_users(rows: list[UserRow], *, as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump(
            [
                {
                    "name": user.name,
                    "role": user.role,
                    "queues": user.queues,
                    "created_at": user.created_at.isoformat(),
                    "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
                }
                for user in rows
            ],
            out,
            indent=2,
        )
        out.write("\n")
        return
    header = ("NAME", "ROLE", "QUEUES", "CREATED", "LAST LOGIN")
    lines = [
        (
            user.name,
            user.role,
            ",".join(user.queues) if user.queues else "*",
            _when(user.created_at),
            _when(user.last_login_at),
        )
        for user in rows
    ]
    _table(header, lines, out)


def _table(header: tuple[str, ...], lines: Sequence[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        out.write("\n")
