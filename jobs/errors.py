"""Errors of the job domain; the API maps each to one HTTP status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def type_name(kind: type[BaseException]) -> str:
    """How pgjobs names an exception type: ``ValueError``, ``tools.errors.ToolFailed``.

    Builtins go by their bare name, everything else by its dotted path, so a
    stored ``error_type``, a retry policy's ``retry_on`` (``GET /tasks``) and a
    rescued attempt's ``WorkerLost`` all read the same way.
    """
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class JobsError(Exception):
    """Base class: every error pgjobs raises on purpose."""


class UnknownTask(JobsError):
    """No task is registered under this name (HTTP 422)."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown task {name!r}; registered tasks: {', '.join(self.known)}")


class InvalidArguments(JobsError):
    """Arguments failed the task's pydantic model (HTTP 422, with pydantic's field errors)."""

    def __init__(self, task: str, errors: list[dict[str, Any]]) -> None:
        self.task = task
        self.errors = errors
        super().__init__(f"invalid arguments for task {task!r}: {errors}")


class InvalidJobOptions(JobsError):
    """A job option (queue, priority, schedule, lock) is out of bounds (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ResultTooLarge(Exception):
    """A task returned a result larger than ``PGJOBS_MAX_RESULT_BYTES``: the attempt fails.

    Never retried (the task would return the same): store the artifact elsewhere
    and return its location. Raised in workers, stored on the job; no request ever
    answers with it (so it is no :class:`JobsError`, the API's error table).
    """

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"the task's result is {size} bytes of JSON, over PGJOBS_MAX_RESULT_BYTES "
            f"({limit}); store large artifacts elsewhere (object storage, a table of your "
            f"own) and return their location instead"
        )


class JobNotFound(JobsError):
    """No job has this id (HTTP 404)."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} does not exist")


class IllegalTransition(JobsError):
    """The job's current status does not allow the requested change (HTTP 409)."""

    def __init__(self, job_id: int, status: str, action: str) -> None:
        self.job_id = job_id
        self.status = status
        self.action = action
        super().__init__(f"cannot {action} job {job_id}: it is {status}")


class AlreadyEnqueued(JobsError):
    """A job with the same queueing lock is already queued (HTTP 409)."""

    def __init__(self, queueing_lock: str) -> None:
        self.queueing_lock = queueing_lock
        super().__init__(f"a job with queueing lock {queueing_lock!r} is already queued")


class IdempotencyKeyReused(JobsError):
    """An Idempotency-Key was replayed with a different request body (HTTP 409)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body")


class IdempotencyKeyInUse(JobsError):
    """The request holding an Idempotency-Key kept vanishing while this one waited (HTTP 409).

    Only a key expiring, or its job being deleted, at the very moment of the
    replay can cause it; the client may send the request again.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} is in use by a concurrent request; retry")


class BatchNotFound(JobsError):
    """No batch has this id (HTTP 404)."""

    def __init__(self, batch_id: object) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id} does not exist")


class BatchRejected(JobsError):
    """Some jobs of a batch are invalid; nothing was created (HTTP 422, each error with its index).

    ``errors`` pairs the index of each bad job in the request with why it is bad
    (an :class:`UnknownTask`, :class:`InvalidArguments` or :class:`InvalidJobOptions`).
    """

    def __init__(self, errors: Sequence[tuple[int, JobsError]], size: int) -> None:
        self.errors = list(errors)
        self.size = size
        indexes = ", ".join(str(index) for index, _ in self.errors[:10])
        more = "" if len(self.errors) <= 10 else ", ..."
        super().__init__(
            f"{len(self.errors)} of {size} jobs are invalid (at {indexes}{more}); none was created"
        )


class UnscopedBulkRetry(JobsError):
    """A bulk retry named no dead letters to retry, or contradicted itself (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class InvalidCursor(JobsError):
    """A pagination cursor that no page handed out (HTTP 422)."""

    def __init__(self, cursor: str) -> None:
        self.cursor = cursor
        super().__init__(f"cursor {cursor!r} is not a next_cursor this endpoint returned")
