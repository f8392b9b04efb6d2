"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import procrastinate
from fastapi import Depends, Request

from db.types import Pool
from jobs.settings import Settings
from jobs.tasks.registry import TaskRegistry


@dataclass(frozen=True, slots=True)
class Services:
    """What request handlers need, built once per app by the lifespan."""

    settings: Settings
    pool: Pool
    procrastinate: procrastinate.App
    tasks: TaskRegistry


def get_services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(get_services)]
