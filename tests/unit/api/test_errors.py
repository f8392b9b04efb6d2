"""api/errors.py: one table maps every error a route raises on purpose to its JSON answer."""

from __future__ import annotations

import inspect
import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

import jobs.errors
from api.auth.accounts import AccountError, AccountNotFound
from api.errors import ANSWERS, answer, answer_for
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


def test_every_domain_error_has_its_row() -> None:
    domain = [
        kind
        for _, kind in inspect.getmembers(jobs.errors, inspect.isclass)
        if issubclass(kind, JobsError) and kind is not JobsError
    ]
    assert domain, "jobs.errors declares the domain errors"
    assert [kind.__name__ for kind in domain if kind not in ANSWERS] == []


#: (error, status, code, loc of the first field error or None for no detail)
CASES: list[tuple[BaseException, int, str, list[Any] | None]] = [
    (UnknownTask("nope", ["a.b"]), 422, "unknown_task", ["body", "task"]),
    (
        InvalidArguments("a.b", [{"loc": ("prompt",), "msg": "missing", "type": "missing"}]),
        422,
        "invalid_arguments",
        ["body", "args", "prompt"],
    ),
    (InvalidJobOptions("priority", "too high"), 422, "invalid_option", ["body", "priority"]),
    (
        BatchRejected([(3, InvalidJobOptions("queue", "bad"))], size=5),
        422,
        "invalid_batch",
        ["body", "jobs", 3, "queue"],
    ),
    (UnscopedBulkRetry("scope", "needs a filter"), 422, "unscoped_retry", ["body", "scope"]),
    (AccountError("scopes", "unknown scope"), 422, "invalid_account", ["body", "scopes"]),
    (InvalidCursor("zz"), 422, "invalid_cursor", ["query", "cursor"]),
    (InvalidEventCursor("zz"), 400, "invalid_cursor", None),
    (JobNotFound(7), 404, "job_not_found", None),
    (BatchNotFound(uuid.UUID(int=1)), 404, "batch_not_found", None),
    (AccountNotFound("key", "ci"), 404, "not_found", None),
    (IllegalTransition(7, "succeeded", "cancel"), 409, "illegal_transition", None),
    (AlreadyEnqueued("lock"), 409, "already_enqueued", None),
    (IdempotencyKeyReused("k"), 409, "idempotency_key_reused", None),
    (IdempotencyKeyInUse("k"), 409, "idempotency_key_in_use", None),
    (TooManySubscribers(), 503, "live_stream_unavailable", None),
    (HubClosed(), 503, "live_stream_unavailable", None),
    (PoolTimeout("no connection"), 503, "database_unavailable", None),
    (psycopg.OperationalError("server closed"), 503, "database_unavailable", None),
]


@pytest.mark.parametrize(("error", "status", "code", "loc"), CASES, ids=lambda v: repr(v)[:40])
def test_each_error_answers_json_with_its_status_code_and_fields(
    error: BaseException, status: int, code: str, loc: list[Any] | None
) -> None:
    response = answer(error)
    body = json.loads(bytes(response.body))
    assert (response.status_code, body["error"]) == (status, code)
    assert body["message"]
    if loc is None:
        assert "detail" not in body
    else:
        assert body["detail"][0]["loc"] == loc
    if status == 503:
        assert response.headers["retry-after"].isdigit()


def test_the_table_covers_every_row_it_declares() -> None:
    assert {type(error) for error, *_ in CASES} == set(ANSWERS)


def test_a_subclass_answers_as_its_closest_base() -> None:
    class Gone(psycopg.errors.AdminShutdown):
        pass

    assert answer_for(Gone) is ANSWERS[psycopg.OperationalError]


def test_a_domain_error_the_table_forgot_is_a_json_500() -> None:
    class Forgotten(JobsError):
        pass

    response = answer(Forgotten("no row for me"))
    assert response.status_code == 500
    assert json.loads(bytes(response.body))["error"] == "internal_error"
