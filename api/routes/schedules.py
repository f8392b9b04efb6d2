"""/schedules: the periodic (cron) tasks, their next runs and their last one."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api import presenters
from api.deps import ServicesDep
from api.schemas import Schedule
from jobs.monitoring.schedules import list_schedules

router = APIRouter(tags=["schedules"])


@router.get("/schedules")
async def get_schedules(
    services: ServicesDep,
    next_runs: Annotated[int, Query(ge=1, le=100, description="Upcoming ticks to list.")] = 3,
) -> list[Schedule]:
    """Every periodic task with its cron, queue, next run times and last deferred tick."""
    async with services.pool.connection() as conn:
        await services.directory.refresh_if_stale(conn)
        schedules = await list_schedules(
            conn,
            services.procrastinate,
            services.tasks,
            now=datetime.datetime.now(datetime.UTC),
            next_runs=next_runs,
            published=presenters.published_schedules(services.directory),
        )
    return [Schedule.model_validate(dataclasses.asdict(schedule)) for schedule in schedules]
