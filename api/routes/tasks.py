"""/tasks: the tasks jobs can be created for, where each runs, and its argument schemas."""

from __future__ import annotations

from fastapi import APIRouter

from api import presenters
from api.deps import ServicesDep
from api.schemas import TaskInfo

router = APIRouter(tags=["tasks"])


@router.get("/tasks")
async def list_tasks(services: ServicesDep) -> list[TaskInfo]:
    """Every task this API imports or a worker published (the task catalog), with its
    versions: two live schema hashes for one task (``schema_conflict``) mean two versions
    of its code are running, as during a rolling deploy."""
    async with services.pool.connection() as conn:
        await services.directory.refresh(conn)  # a listing: always what is published now
    return presenters.tasks(services.directory, services.settings)
