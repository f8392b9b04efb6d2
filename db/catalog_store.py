"""Repository for the task catalog (``pgjobs_task_catalog``): publish, refresh, list."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from db.queries import query
from db.rows import fetch_all
from db.types import Connection


@dataclass(frozen=True, slots=True)
class PublishedTask:
    """One task as a process declares it (what it publishes)."""

    task_name: str
    schema_hash: str
    args_schema: dict[str, Any]
    queue_name: str
    priority: int
    cron: str | None
    description: str
    retry: dict[str, Any] | None
    time_limit: float | None
    soft_time_limit: float | None


@dataclass(frozen=True, slots=True)
class Publisher:
    """The process publishing: what it is and where it runs."""

    process_id: uuid.UUID
    process_kind: str  # "worker" or "api"
    host: str
    pid: int
    #: Queues a worker takes (None: every queue; always None for the API).
    worker_queues: Sequence[str] | None
    task_modules: Sequence[str]


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One published entry: a task as one process has it."""

    process_id: uuid.UUID
    task_name: str
    schema_hash: str
    args_schema: dict[str, Any]
    queue_name: str
    priority: int
    cron: str | None
    description: str
    retry: dict[str, Any] | None
    time_limit_seconds: float | None
    soft_time_limit_seconds: float | None
    process_kind: str
    host: str
    pid: int
    worker_queues: list[str] | None
    task_modules: list[str]
    published_at: datetime.datetime
    last_seen_at: datetime.datetime
    seen_seconds_ago: float


async def catalog_publish(
    conn: Connection,
    publisher: Publisher,
    tasks: Sequence[PublishedTask],
    *,
    forget_after_seconds: float,
) -> None:
    await conn.execute(
        query("catalog_publish"),
        {
            "process_id": publisher.process_id,
            "process_kind": publisher.process_kind,
            "host": publisher.host,
            "pid": publisher.pid,
            "worker_queues": list(publisher.worker_queues)
            if publisher.worker_queues is not None
            else None,
            "task_modules": list(publisher.task_modules),
            "forget_after_seconds": forget_after_seconds,
            "task_names": [task.task_name for task in tasks],
            "schema_hashes": [task.schema_hash for task in tasks],
            "args_schemas": [Jsonb(task.args_schema) for task in tasks],
            "queue_names": [task.queue_name for task in tasks],
            "priorities": [task.priority for task in tasks],
            "crons": [task.cron for task in tasks],
            "descriptions": [task.description for task in tasks],
            "retries": [Jsonb(task.retry) if task.retry is not None else None for task in tasks],
            "time_limits": [task.time_limit for task in tasks],
            "soft_time_limits": [task.soft_time_limit for task in tasks],
        },
    )


async def catalog_refresh(conn: Connection, process_id: uuid.UUID) -> bool:
    """Mark the process' entries seen; False when it has none left (it must publish again)."""
    cursor = await conn.execute(query("catalog_refresh"), {"process_id": process_id})
    return cursor.rowcount > 0


async def catalog_list(conn: Connection, *, forget_after_seconds: float) -> list[CatalogRow]:
    return await fetch_all(
        conn, "catalog_list", CatalogRow, {"forget_after_seconds": forget_after_seconds}
    )
