"""/tasks: the registered tasks and the JSON Schema of their arguments."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep
from api.schemas import TaskInfo

router = APIRouter(tags=["tasks"])


@router.get("/tasks")
async def list_tasks(services: ServicesDep) -> list[TaskInfo]:
    return [
        TaskInfo(
            name=spec.name,
            queue=spec.queue,
            priority=spec.priority,
            description=spec.description,
            cron=spec.cron,
            retry=spec.retry.describe() if spec.retry is not None else None,
            time_limit=spec.time_limits.hard,
            soft_time_limit=spec.time_limits.soft,
            args_schema=spec.json_schema(),
        )
        for spec in services.tasks
    ]
