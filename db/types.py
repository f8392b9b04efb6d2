"""Types shared by the repository modules: connections, and the one list of job statuses."""

from __future__ import annotations

import enum
from typing import Any, TypeAlias

import psycopg
from psycopg_pool import AsyncConnectionPool

#: A psycopg async connection; repository functions take one and never commit (style rule 6).
Connection: TypeAlias = psycopg.AsyncConnection[Any]
Pool: TypeAlias = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


class JobStatus(enum.StrEnum):
    """A job's status: procrastinate's ``procrastinate_job_status`` type, member for member.

    The one list of statuses in pgjobs: the API's schemas, the dashboard, the
    batch counts and the repositories all use this enum (a ``StrEnum``, so a
    member is also the plain string the database and JSON carry).
    """

    #: Queued: waiting for a worker, or for its scheduled time.
    TODO = "todo"
    #: A worker runs it.
    DOING = "doing"
    SUCCEEDED = "succeeded"
    #: Failed for good: its retries (if any) are exhausted. A dead letter.
    FAILED = "failed"
    #: Cancelled while queued.
    CANCELLED = "cancelled"
    #: Stopped while running (abort requested, or a time limit with no retry left).
    ABORTED = "aborted"


#: Queued or running: procrastinate's partial indexes cover exactly these.
ACTIVE_STATUSES = frozenset({JobStatus.TODO, JobStatus.DOING})
#: A job in one of these will not run again unless someone retries it.
FINAL_STATUSES = frozenset(set(JobStatus) - ACTIVE_STATUSES)
#: What ``POST /jobs/{id}/retry`` (and the dashboard's Retry button) accepts.
RETRYABLE_STATUSES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.ABORTED})
