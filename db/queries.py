"""Named SQL queries, loaded once from ``queries.sql``.

All SQL text of pgjobs lives in this package (style rule 2). A query is
declared in ``queries.sql`` under a ``-- name --`` line followed by a one-line
description, the way procrastinate keeps its own ``queries.sql``; code refers
to it by name so a grep for the name finds both the SQL and every caller.
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
    text = importlib.resources.files("db").joinpath("queries.sql").read_text(encoding="utf-8")
    # The text is our own packaged file, never user input: a LiteralString in all but name.
    return parse(text)


def query(name: str) -> LiteralString:
    """Return the SQL of the named query (a ``LiteralString``: it comes from our own file)."""
    try:
        return all_queries()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in db/queries.sql") from None
