"""Named SQL queries, loaded once from the ``.sql`` files of ``db/sql/``.

All SQL text of pgjobs lives in this package (style rule 2). A query is
declared in one of ``db/sql/*.sql`` (one file per area: jobs, maintenance,
observability, ...) under a ``-- name --`` line followed by a one-line
description, the way procrastinate keeps its own ``queries.sql``; code refers
to it by name so a grep for the name finds both the SQL and every caller.
Names are unique across all files.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from typing import LiteralString

_HEADER = re.compile(r"^-- ([a-z0-9_]+) --$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Split a queries file into ``{name: sql}``; the description line is kept as a comment."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is declared twice")
        queries[name] = body.strip()
    return queries


@functools.cache
def all_queries() -> dict[str, LiteralString]:
    # The text is our own packaged files, never user input: LiteralStrings in all but name.
    queries: dict[str, LiteralString] = {}
    files = sorted(importlib.resources.files("db").joinpath("sql").iterdir(), key=lambda f: f.name)
    for entry in files:
        if not entry.name.endswith(".sql"):
            continue
        for name, sql in parse(entry.read_text(encoding="utf-8")).items():
            if name in queries:
                raise ValueError(f"query {name!r} is declared in two files of db/sql/")
            queries[name] = sql
    return queries


def query(name: str) -> LiteralString:
    """Return the SQL of the named query (a ``LiteralString``: it comes from our own file)."""
    try:
        return all_queries()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in db/sql/*.sql") from None
