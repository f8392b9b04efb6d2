"""Repository for worker processes: which process each procrastinate worker is, and its figures.

Each function is one statement on the caller's connection (style rule 6).
"""

from __future__ import annotations

from dataclasses import dataclass

from db.queries import query
from db.types import Connection


@dataclass(frozen=True, slots=True)
class WorkerProcess:
    """Which process a worker is: what the workers page and /metrics name it by."""

    name: str
    hostname: str
    pid: int


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    """What a worker reports with each heartbeat."""

    jobs_finished: int
    resident_memory_bytes: int | None
    recycling_reason: str | None


async def worker_register(
    conn: Connection, process: WorkerProcess, *, resident_memory_bytes: int | None
) -> int:
    """Register a worker (procrastinate's function) with its process; returns its id."""
    cursor = await conn.execute(
        query("worker_register"),
        {
            "name": process.name,
            "hostname": process.hostname,
            "pid": process.pid,
            "resident_memory_bytes": resident_memory_bytes,
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def worker_heartbeat(conn: Connection, worker_id: int, figures: WorkerFigures) -> None:
    """procrastinate's heartbeat of ``worker_id`` plus its current figures."""
    await conn.execute(
        query("worker_heartbeat"),
        {
            "worker_id": worker_id,
            "jobs_finished": figures.jobs_finished,
            "resident_memory_bytes": figures.resident_memory_bytes,
            "recycling_reason": figures.recycling_reason,
        },
    )
