"""Repository for completion webhooks: deliveries (``pgjobs_callbacks``) and their attempts.

Deliveries are created by the database itself, in the transaction of the job's
completion (trigger ``pgjobs_defer_callback_v1``, migration pgjobs_0010); these
functions read them and record attempts. Each is one statement; the caller owns
the transaction (style rule 6).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from psycopg.rows import class_row

from db.queries import query
from db.types import Connection


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery and what its request body reports about the job."""

    delivery_job_id: int
    job_id: int
    event_id: int
    status: str
    url: str
    delivered_at: datetime.datetime | None
    task: str
    queue: str
    attempts: int
    result: Any
    error_type: str | None
    error_message: str | None
    created_at: datetime.datetime | None
    started_at: datetime.datetime | None
    finished_at: datetime.datetime

    @property
    def idempotency_key(self) -> str:
        """The same on every retry of this delivery; another final state gets another key."""
        return f"pgjobs-{self.job_id}-{self.event_id}"


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A delivery as the API and dashboard show it on its job."""

    delivery_job_id: int
    job_status: str
    url: str
    created_at: datetime.datetime
    delivered_at: datetime.datetime | None
    delivery_status: str
    idempotency_key: str
    #: ``[{attempt, sent_at, status_code, latency_ms, error}]``, oldest first.
    attempts: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    delivery_job_id: int
    attempt: int
    sent_at: datetime.datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    delivered: bool


async def callback_delivery_get(conn: Connection, job_id: int, event_id: int) -> Delivery | None:
    async with conn.cursor(row_factory=class_row(Delivery)) as cursor:
        await cursor.execute(
            query("callback_delivery_get"), {"job_id": job_id, "event_id": event_id}
        )
        return await cursor.fetchone()


async def callback_attempt_record(conn: Connection, record: AttemptRecord) -> None:
    await conn.execute(
        query("callback_attempt_record"),
        {
            "delivery_job_id": record.delivery_job_id,
            "attempt": record.attempt,
            "sent_at": record.sent_at,
            "status_code": record.status_code,
            "latency_ms": record.latency_ms,
            "error": record.error,
            "delivered": record.delivered,
        },
    )


async def callback_list_for_job(conn: Connection, job_id: int) -> list[DeliveryView]:
    async with conn.cursor(row_factory=class_row(DeliveryView)) as cursor:
        await cursor.execute(query("callback_list_for_job"), {"job_id": job_id})
        return await cursor.fetchall()
