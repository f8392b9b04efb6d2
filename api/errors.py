"""How errors become HTTP answers: always JSON, always naming what was wrong.

Body shape (FastAPI's own validation shape, plus an error code and a sentence)::

    {"error": "unknown_task", "message": "...",
     "detail": [{"loc": [...], "msg": "...", "type": "..."}]}

Every error a route may raise on purpose has one row in :data:`ANSWERS`: its
status, its code, and (for bad input) the field errors of ``detail``. One
handler serves the whole table; a handler of its own is left only where the
answer depends on more than the error's class (FastAPI's validation errors,
Starlette's HTTP errors, procrastinate's wrapped database errors, and refusals of
access, which carry their own status and may send a browser to the login page).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from procrastinate.exceptions import ConnectorException
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth.accounts import AccountError, AccountNotFound
from api.auth.errors import NotAuthenticated, RequestRefused
from jobs.errors import (
    AlreadyEnqueued,
    BatchNotFound,
    BatchRejected,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidArguments,
    InvalidCursor,
    InvalidJobOptions,
    JobNotFound,
    JobsError,
    UnknownTask,
    UnscopedBulkRetry,
)
from jobs.live.hub import HubClosed, TooManySubscribers
from jobs.live.stream import InvalidEventCursor

logger = logging.getLogger(__name__)

#: Seconds a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5
#: Most field errors one answer lists (a batch of 10,000 bad jobs would otherwise be megabytes).
MAX_REPORTED_ERRORS = 100

Detail = list[dict[str, Any]]


def error_response(
    status: int,
    code: str,
    message: str,
    detail: Detail | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(status_code=status, content=body, headers=headers)


def _jsonable_errors(errors: Any) -> Detail:
    # pydantic errors may carry exceptions in "ctx" and bytes in "input": keep what is JSON.
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg")),
            "type": str(error.get("type")),
        }
        for error in errors
    ]


def job_error_details(error: JobsError, loc: list[Any]) -> Detail:
    """The field errors of an invalid job, located under ``loc`` (its place in the body)."""
    if isinstance(error, UnknownTask):
        return [
            {
                "loc": [*loc, "task"],
                "msg": str(error),
                "type": "unknown_task",
                "valid": error.known,
            }
        ]
    if isinstance(error, InvalidArguments):
        return [
            {**item, "loc": [*loc, "args", *item["loc"]]} for item in _jsonable_errors(error.errors)
        ]
    if isinstance(error, InvalidJobOptions):
        return [{"loc": [*loc, error.field], "msg": error.message, "type": "value_error"}]
    return [{"loc": loc, "msg": str(error), "type": "value_error"}]


def _fields(detail: Detail) -> str:
    return ", ".join(".".join(str(part) for part in item["loc"]) for item in detail)


def _one_field(loc: list[str], message: Callable[[Any], str] = str) -> Callable[[Any], Detail]:
    """``detail`` for an error about one field of the request."""
    return lambda error: [{"loc": loc, "msg": message(error), "type": "value_error"}]


def _named_field(error: UnscopedBulkRetry | AccountError) -> Detail:
    """``detail`` for an error that names the body field at fault (``field``, ``message``)."""
    return [{"loc": ["body", error.field], "msg": error.message, "type": "value_error"}]


def _batch_details(error: BatchRejected) -> Detail:
    detail = [
        item
        for index, job_error in error.errors
        for item in job_error_details(job_error, ["body", "jobs", index])
    ]
    return detail[:MAX_REPORTED_ERRORS]


def _invalid_arguments_message(error: InvalidArguments) -> str:
    fields = _fields(job_error_details(error, ["body"]))
    return f"invalid arguments for task {error.task!r}: {fields}"


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """The HTTP answer to one class of error."""

    status: int
    code: str
    #: The field errors (``detail``) of an error about the request's input; None: no detail.
    detail: Callable[[Any], Detail] | None = None
    #: The sentence of ``message`` (default: the error's own).
    message: Callable[[Any], str] = str
    headers: Mapping[str, str] = field(default_factory=dict)


_UNAVAILABLE = {"Retry-After": str(RETRY_AFTER_SECONDS)}

#: Error class -> its answer. A subclass without a row of its own answers as its closest base.
ANSWERS: dict[type[Exception], ErrorAnswer] = {
    # bad input: 4xx naming the field
    UnknownTask: ErrorAnswer(422, "unknown_task", lambda e: job_error_details(e, ["body"])),
    InvalidArguments: ErrorAnswer(
        422,
        "invalid_arguments",
        lambda e: job_error_details(e, ["body"]),
        message=_invalid_arguments_message,
    ),
    InvalidJobOptions: ErrorAnswer(422, "invalid_option", lambda e: job_error_details(e, ["body"])),
    BatchRejected: ErrorAnswer(422, "invalid_batch", _batch_details),
    UnscopedBulkRetry: ErrorAnswer(422, "unscoped_retry", _named_field),
    AccountError: ErrorAnswer(422, "invalid_account", _named_field),
    InvalidCursor: ErrorAnswer(422, "invalid_cursor", _one_field(["query", "cursor"])),
    InvalidEventCursor: ErrorAnswer(400, "invalid_cursor"),
    # the request is fine, the state of things is not
    JobNotFound: ErrorAnswer(404, "job_not_found"),
    BatchNotFound: ErrorAnswer(404, "batch_not_found"),
    AccountNotFound: ErrorAnswer(404, "not_found"),
    IllegalTransition: ErrorAnswer(409, "illegal_transition"),
    AlreadyEnqueued: ErrorAnswer(409, "already_enqueued"),
    IdempotencyKeyReused: ErrorAnswer(409, "idempotency_key_reused"),
    IdempotencyKeyInUse: ErrorAnswer(409, "idempotency_key_in_use"),
    # nothing wrong with the request: try again later
    TooManySubscribers: ErrorAnswer(
        503,
        "live_stream_unavailable",
        message=lambda _: "too many live streams on this API process",
        headers=_UNAVAILABLE,
    ),
    HubClosed: ErrorAnswer(
        503,
        "live_stream_unavailable",
        message=lambda _: "the API process is shutting down",
        headers=_UNAVAILABLE,
    ),
    PoolTimeout: ErrorAnswer(
        503,
        "database_unavailable",
        message=lambda _: "no database connection became available in time",
        headers=_UNAVAILABLE,
    ),
    psycopg.OperationalError: ErrorAnswer(
        503,
        "database_unavailable",
        message=lambda _: "the database is unreachable",
        headers=_UNAVAILABLE,
    ),
}


def answer_for(kind: type[BaseException]) -> ErrorAnswer | None:
    """The row of ``kind``'s closest class in :data:`ANSWERS` (None: not an expected error)."""
    for base in kind.__mro__:
        found = ANSWERS.get(base)
        if found is not None:
            return found
    return None


def answer(error: BaseException) -> JSONResponse:
    """The JSON answer to an error of :data:`ANSWERS` (a bug, as a bare 500, for any other)."""
    row = answer_for(type(error))
    if row is None:
        logger.error("unexpected error", exc_info=error)
        return error_response(500, "internal_error", "the request failed on an unexpected error")
    detail = row.detail(error) if row.detail is not None else None
    return error_response(row.status, row.code, row.message(error), detail, row.headers or None)


def install(app: FastAPI) -> None:
    """Register the handlers on the app: one for the table, four for the special cases."""

    async def from_table(request: Request, error: Exception) -> JSONResponse:
        return answer(error)

    for kind in (*ANSWERS, JobsError):  # JobsError: a domain error the table forgot is a 500
        app.add_exception_handler(kind, from_table)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        everything = _jsonable_errors(error.errors())
        detail = everything[:MAX_REPORTED_ERRORS]
        more = f" and {len(everything) - len(detail)} more" if len(everything) > len(detail) else ""
        return error_response(
            422, "validation_error", f"invalid request: {_fields(detail)}{more}", detail
        )

    @app.exception_handler(RequestRefused)
    async def refused(request: Request, error: RequestRefused) -> Response:
        # each refusal carries its own status and code; a dashboard page goes to the login
        if isinstance(error, NotAuthenticated) and error.login_page:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/dashboard/login?{urlencode({'next': target})}", 303)
        return error_response(error.status, error.code, error.message, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            error.status_code, "http_error"
        )
        headers = dict(error.headers) if error.headers else None
        return error_response(error.status_code, code, str(error.detail), headers=headers)

    @app.exception_handler(ConnectorException)
    async def procrastinate_database_error(
        request: Request, error: ConnectorException
    ) -> JSONResponse:
        # procrastinate's own calls wrap psycopg's errors: a lost database is the outage above
        if isinstance(error.__cause__, psycopg.OperationalError):
            return answer(error.__cause__)
        logger.error("database error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal_error", "the request failed on a database error")
