from __future__ import annotations

import re
from pathlib import Path

import pytest

from db import queries

ROOT = Path(__file__).resolve().parents[3]


def test_parse_splits_named_queries() -> None:
    text = "-- header\n\n-- a_get --\n-- what\nSELECT 1;\n\n-- b_set --\n-- why\nSELECT 2;\n"
    assert queries.parse(text) == {"a_get": "-- what\nSELECT 1;", "b_set": "-- why\nSELECT 2;"}


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        queries.parse("-- a --\nSELECT 1;\n-- a --\nSELECT 2;")


def test_every_query_is_described_and_used() -> None:
    source = "\n".join(path.read_text() for path in (ROOT / "db").glob("*.py"))
    for name, sql in queries.all_queries().items():
        assert sql.startswith("-- "), f"{name} needs a one-line description"
        # query("name"), or the name handed to db.rows' fetch_* helpers
        assert f'"{name}"' in source, f"{name} is never used"


def test_unknown_query_names_fail_loudly() -> None:
    with pytest.raises(KeyError, match="no query named"):
        queries.query("nope")


def test_no_sql_outside_db() -> None:
    """Style rule 2: only db/ holds SQL text (migrations own DDL)."""
    # a string literal that starts with a statement keyword (prose may still name SQL)
    pattern = re.compile(
        r"""[\"']\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|WITH \w+ AS)\b"""
    )
    for package in ("api", "jobs"):
        for path in (ROOT / package).rglob("*.py"):
            assert not pattern.search(path.read_text()), f"SQL text in {path}"
