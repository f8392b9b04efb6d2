"""Input Postgres cannot store, refused as a 422 naming the field before anything runs.

Python's JSON parser accepts what Postgres refuses: ``NaN`` and ``Infinity``
(and ``1e999``, which becomes infinity), ``\\u0000`` (text and jsonb cannot hold
a NUL character), lone surrogates such as ``\\ud800`` (not valid UTF-8), and
nesting deep enough to exhaust the parser's recursion. It also guesses UTF-16
and UTF-32 bodies. Each would reach the database and fail there with a 500, so
every JSON body is parsed here instead, strictly: UTF-8 only, finite numbers
only, no NUL, no lone surrogate, at most ``PGJOBS_MAX_JSON_DEPTH`` levels deep.
Query parameters may not hold control characters. The error's ``loc`` is the
path to the bad value (``["body", "args", "items", 3]``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

#: A character text and jsonb cannot hold: NUL, or half of a surrogate pair.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
#: The JSON escapes that produce one; without them in the body no string needs a look.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
#: Control characters, refused in query parameters (names, filters, cursors).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Refused(ValueError):
    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        self.message = message
        self.loc = loc
        super().__init__(message)


def _refuse(loc: tuple[str | int, ...], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": None}])


def _non_finite(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows (only finite numbers)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text} is out of range (only finite numbers)")
    return value


def parse_json(body: bytes, *, max_depth: int) -> Any:
    """Parse a request body strictly (see the module doc); raises a 422's error."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refuse(
            ("body",), f"the body is not UTF-8 (byte {error.start})", "unicode_decode"
        ) from None
    try:
        value = json.loads(text, parse_constant=_non_finite, parse_float=_finite_float)
    except _Refused as error:
        raise _refuse(("body",), error.message, "finite_number") from None
    except json.JSONDecodeError as error:
        raise _refuse(
            ("body", error.pos), f"JSON decode error: {error.msg}", "json_invalid"
        ) from None
    except RecursionError:
        raise _refuse(
            ("body",), f"JSON nested deeper than {max_depth} levels", "too_deep"
        ) from None
    except ValueError as error:  # an integer of more than 4300 digits
        raise _refuse(("body",), str(error), "json_invalid") from None
    try:
        _check(value, max_depth=max_depth, strings=_UNSTORABLE_ESCAPE.search(text) is not None)
    except _Refused as error:
        kind = "too_deep" if "deeper" in error.message else "unstorable_text"
        raise _refuse(("body", *error.loc), error.message, kind) from None
    return value


def _check(value: Any, *, max_depth: int, strings: bool) -> None:
    """Walk containers (iteratively) for depth, and strings for unstorable characters."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, dict):
            if len(loc) >= max_depth:
                raise _Refused(f"JSON nested deeper than {max_depth} levels", loc)
            for key, child in item.items():
                if strings and _UNSTORABLE.search(key):
                    raise _Refused(_unstorable_message(key), (*loc, key))
                stack.append((child, (*loc, key)))
        elif isinstance(item, list):
            if len(loc) >= max_depth:
                raise _Refused(f"JSON nested deeper than {max_depth} levels", loc)
            stack.extend((child, (*loc, index)) for index, child in enumerate(item))
        elif strings and isinstance(item, str) and _UNSTORABLE.search(item):
            raise _Refused(_unstorable_message(item), loc)


def _unstorable_message(text: str) -> str:
    found = _UNSTORABLE.search(text)
    assert found is not None
    if found.group() == "\x00":
        return "text may not contain NUL (\\u0000): Postgres cannot store it"
    return "text may not contain a lone surrogate (\\ud800-\\udfff): it is not valid Unicode"


def check_query(request: Request) -> None:
    """Refuse query parameters holding control characters (or NUL, which no column takes)."""
    for name, value in request.query_params.multi_items():
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise _refuse(
                ("query", name), "may not contain control characters", "control_character"
            )


def wants_json(request: Request) -> bool:
    """Whether FastAPI will read this request's body as JSON (no type, or a JSON type)."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        return True
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
