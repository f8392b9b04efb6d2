"""Strict JSON: what Postgres cannot store is a 422 naming where it is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from api.strict_input import parse_json


def _refusal(body: bytes, max_depth: int = 32) -> dict[str, Any]:
    with pytest.raises(RequestValidationError) as raised:
        parse_json(body, max_depth=max_depth)
    (error,) = raised.value.errors()
    return dict(error)


def test_valid_json_parses_as_usual() -> None:
    body = {"task": "t", "args": {"text": "line\nbreak é ✓ \U0001f600", "n": [1, 2.5, None, True]}}
    assert parse_json(json.dumps(body).encode(), max_depth=32) == body


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_are_refused(literal: str) -> None:
    error = _refusal(f'{{"args": {{"x": {literal}}}}}'.encode())
    assert error["loc"] == ("body",)
    assert "finite" in error["msg"]


def test_nul_in_a_value_is_refused_at_its_path() -> None:
    error = _refusal(b'{"args": {"items": ["ok", "bad\\u0000"]}}')
    assert error["loc"] == ("body", "args", "items", 1)
    assert "NUL" in error["msg"]


def test_nul_in_a_key_is_refused_at_its_path() -> None:
    error = _refusal(b'{"args": {"k\\u0000": 1}}')
    assert error["loc"] == ("body", "args", "k\x00")


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\uDC00x"])
def test_lone_surrogates_are_refused(escape: str) -> None:
    error = _refusal(f'{{"task": "a{escape}"}}'.encode())
    assert error["loc"] == ("body", "task")
    assert "surrogate" in error["msg"]


def test_a_surrogate_pair_is_a_character_and_fine() -> None:
    assert parse_json(b'{"t": "\\ud83d\\ude00"}', max_depth=4) == {"t": "\U0001f600"}


def test_an_escaped_backslash_before_u0000_is_plain_text() -> None:
    assert parse_json(b'{"t": "\\\\u0000"}', max_depth=4) == {"t": "\\u0000"}


def test_nesting_deeper_than_the_limit_is_refused_at_its_path() -> None:
    ok = {"args": {"a": {"b": [1]}}}  # 4 levels of containers
    assert parse_json(json.dumps(ok).encode(), max_depth=4) == ok
    error = _refusal(json.dumps({"args": {"a": {"b": [[1]]}}}).encode(), max_depth=4)
    assert error["loc"] == ("body", "args", "a", "b", 0)
    assert "deeper than 4" in error["msg"]


def test_nesting_that_would_exhaust_the_parser_is_refused() -> None:
    error = _refusal(b"[" * 200_000 + b"]" * 200_000)
    assert "deeper than 32" in error["msg"]


@pytest.mark.parametrize(
    "body",
    [
        '{"task": "t"}'.encode("utf-16"),
        b'{"task": "\xff\xfe"}',
        '{"task": "é"}'.encode("latin-1"),
    ],
)
def test_bodies_that_are_not_utf8_are_refused(body: bytes) -> None:
    error = _refusal(body)
    assert error["loc"] == ("body",)
    assert "not UTF-8" in error["msg"]


def test_malformed_json_names_the_position() -> None:
    error = _refusal(b'{"task": }')
    assert error["loc"] == ("body", 9)


def test_integers_too_long_to_parse_are_refused() -> None:
    error = _refusal(b'{"n": ' + b"9" * 5000 + b"}")
    assert error["loc"] == ("body",)
