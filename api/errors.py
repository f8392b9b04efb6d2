"""How errors become HTTP answers: always JSON, always naming what was wrong.

Body shape (FastAPI's own validation shape, plus an error code and a sentence)::

    {"error": "unknown_task", "message": "...",
     "detail": [{"loc": [...], "msg": "...", "type": "..."}]}
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobs.errors import (
    AlreadyEnqueued,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidArguments,
    InvalidJobOptions,
    JobNotFound,
    UnknownTask,
)

#: Seconds a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5


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


def install(app: FastAPI) -> None:
    """Register every handler on the app."""

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = _jsonable_errors(error.errors())
        fields = ", ".join(".".join(str(part) for part in item["loc"]) for item in detail)
        return error_response(422, "validation_error", f"invalid request: {fields}", detail)

    @app.exception_handler(UnknownTask)
    async def unknown_task(request: Request, error: UnknownTask) -> JSONResponse:
        detail = [
            {
                "loc": ["body", "task"],
                "msg": str(error),
                "type": "unknown_task",
                "valid": error.known,
            }
        ]
        return error_response(422, "unknown_task", str(error), detail)

    @app.exception_handler(InvalidArguments)
    async def invalid_arguments(request: Request, error: InvalidArguments) -> JSONResponse:
        detail = [
            {**item, "loc": ["body", "args", *item["loc"]]}
            for item in _jsonable_errors(error.errors)
        ]
        fields = ", ".join(".".join(str(part) for part in item["loc"]) for item in detail)
        return error_response(
            422, "invalid_arguments", f"invalid arguments for task {error.task!r}: {fields}", detail
        )

    @app.exception_handler(InvalidJobOptions)
    async def invalid_options(request: Request, error: InvalidJobOptions) -> JSONResponse:
        detail = [{"loc": ["body", error.field], "msg": error.message, "type": "value_error"}]
        return error_response(422, "invalid_option", str(error), detail)

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


def _unavailable(message: str) -> JSONResponse:
    return error_response(
        503, "database_unavailable", message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )
