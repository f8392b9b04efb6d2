"""Credentials for tests: API keys and users created through the product's own code."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import psycopg

from api.auth import accounts

_names = itertools.count(1)
#: A password good enough for ``pgjobs users create``.
PASSWORD = "correct horse battery staple"


async def make_key(
    conn: psycopg.AsyncConnection[Any],
    scopes: Sequence[str] = ("admin",),
    *,
    name: str | None = None,
    queues: Sequence[str] | None = None,
    **options: Any,
) -> str:
    """Create an API key; returns its token."""
    created = await accounts.create_key(
        conn,
        name=name or f"test-key-{next(_names)}",
        scopes=scopes,
        queues=queues,
        created_by="tests",
        **options,
    )
    return created.token


async def make_user(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    role: str = "viewer",
    *,
    password: str = PASSWORD,
    queues: Sequence[str] | None = None,
) -> None:
    await accounts.create_user(
        conn, name=name, password=password, role=role, queues=queues, created_by="tests"
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
