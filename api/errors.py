"""How errors become HTTP answers: always JSON, always naming what was wrong.

Body shape (FastAPI's own validation shape, plus an error code and a sentence)::

    {"error": "unknown_task", "message": "...",
     "detail": [{"loc": [...], "msg": "...", "type": "..."}]}
"""

from __future__ import annotations

import logging
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

logger = logging.getLogger(__name__)

#: Seconds a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5
#: Most field errors one answer lists (a batch of 10,000 bad jobs would otherwise be megabytes).
MAX_REPORTED_ERRORS = 100


def error_response(
    status: int,
    code: str,
    message: str,
    detail: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(status_code=status, content=body, headers=headers)


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    # pydantic errors may carry exceptions in "ctx" and bytes in "input": keep what is JSON.
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg")),
            "type": str(error.get("type")),
        }
        for error in errors
    ]


def job_error_details(error: JobsError, loc: list[Any]) -> list[dict[str, Any]]:
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


def _fields(detail: list[dict[str, Any]]) -> str:
    return ", ".join(".".join(str(part) for part in item["loc"]) for item in detail)


def install(app: FastAPI) -> None:
    """Register every handler on the app."""

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        everything = _jsonable_errors(error.errors())
        detail = everything[:MAX_REPORTED_ERRORS]
        more = f" and {len(everything) - len(detail)} more" if len(everything) > len(detail) else ""
        return error_response(
            422, "validation_error", f"invalid request: {_fields(detail)}{more}", detail
        )

    @app.exception_handler(UnknownTask)
    async def unknown_task(request: Request, error: UnknownTask) -> JSONResponse:
        return error_response(422, "unknown_task", str(error), job_error_details(error, ["body"]))

    @app.exception_handler(InvalidArguments)
    async def invalid_arguments(request: Request, error: InvalidArguments) -> JSONResponse:
        detail = job_error_details(error, ["body"])
        return error_response(
            422,
            "invalid_arguments",
            f"invalid arguments for task {error.task!r}: {_fields(detail)}",
            detail,
        )

    @app.exception_handler(InvalidJobOptions)
    async def invalid_options(request: Request, error: InvalidJobOptions) -> JSONResponse:
        return error_response(422, "invalid_option", str(error), job_error_details(error, ["body"]))

    @app.exception_handler(BatchRejected)
    async def batch_rejected(request: Request, error: BatchRejected) -> JSONResponse:
        detail = [
            item
            for index, job_error in error.errors
            for item in job_error_details(job_error, ["body", "jobs", index])
        ]
        return error_response(422, "invalid_batch", str(error), detail[:MAX_REPORTED_ERRORS])

    @app.exception_handler(BatchNotFound)
    async def batch_not_found(request: Request, error: BatchNotFound) -> JSONResponse:
        return error_response(404, "batch_not_found", str(error))

    @app.exception_handler(UnscopedBulkRetry)
    async def unscoped_bulk_retry(request: Request, error: UnscopedBulkRetry) -> JSONResponse:
        detail = [{"loc": ["body", error.field], "msg": error.message, "type": "value_error"}]
        return error_response(422, "unscoped_retry", str(error), detail)

    @app.exception_handler(InvalidCursor)
    async def invalid_cursor(request: Request, error: InvalidCursor) -> JSONResponse:
        detail = [{"loc": ["query", "cursor"], "msg": str(error), "type": "value_error"}]
        return error_response(422, "invalid_cursor", str(error), detail)

    @app.exception_handler(JobNotFound)
    async def job_not_found(request: Request, error: JobNotFound) -> JSONResponse:
        return error_response(404, "job_not_found", str(error))

    @app.exception_handler(IllegalTransition)
    async def illegal_transition(request: Request, error: IllegalTransition) -> JSONResponse:
        return error_response(409, "illegal_transition", str(error))

    @app.exception_handler(AlreadyEnqueued)
    async def already_enqueued(request: Request, error: AlreadyEnqueued) -> JSONResponse:
        return error_response(409, "already_enqueued", str(error))

    @app.exception_handler(IdempotencyKeyReused)
    async def idempotency_key_reused(request: Request, error: IdempotencyKeyReused) -> JSONResponse:
        return error_response(409, "idempotency_key_reused", str(error))

    @app.exception_handler(IdempotencyKeyInUse)
    async def idempotency_key_in_use(request: Request, error: IdempotencyKeyInUse) -> JSONResponse:
        return error_response(409, "idempotency_key_in_use", str(error))

    @app.exception_handler(AccountError)
    async def account_error(request: Request, error: AccountError) -> Response:
        detail = [{"loc": ["body", error.field], "msg": error.message, "type": "value_error"}]
        return error_response(422, "invalid_account", str(error), detail)

    @app.exception_handler(AccountNotFound)
    async def account_not_found(request: Request, error: AccountNotFound) -> Response:
        return error_response(404, "not_found", str(error))

    @app.exception_handler(RequestRefused)
    async def refused(request: Request, error: RequestRefused) -> Response:
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

    @app.exception_handler(PoolTimeout)
    async def pool_timeout(request: Request, error: PoolTimeout) -> JSONResponse:
        return _unavailable("no database connection became available in time")

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(request: Request, error: psycopg.OperationalError) -> JSONResponse:
        return _unavailable("the database is unreachable")

    @app.exception_handler(ConnectorException)
    async def procrastinate_database_error(
        request: Request, error: ConnectorException
    ) -> JSONResponse:
        # procrastinate's own calls wrap psycopg's errors: a lost database is the outage above
        if isinstance(error.__cause__, psycopg.OperationalError):
            return _unavailable("the database is unreachable")
        logger.error("database error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal_error", "the request failed on a database error")


def _unavailable(message: str) -> JSONResponse:
    return error_response(
        503, "database_unavailable", message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )
