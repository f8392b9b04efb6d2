"""What the routers share: their dependencies, the caller, and how a create answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import procrastinate
from fastapi import Depends, Header, Request, Response, status

from db.types import Pool
from jobs.control.catalog import TaskDirectory
from jobs.settings import Settings
from jobs.tasks.catalog import CatalogPublisher
from jobs.tasks.registry import TaskRegistry

#: Who the API records as a job's creator (and scopes idempotency keys to) until API
#: keys name the caller.
API_CREATOR = "api"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Send the request again with the same key to get the same answer, "
        "never a second creation. Keys expire after PGJOBS_IDEMPOTENCY_TTL_SECONDS.",
    ),
]


def answer_created(response: Response, location: str, *, replayed: bool) -> None:
    """A create's status and Location: 201, or 200 when an Idempotency-Key replays it."""
    if replayed:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = location


@dataclass(frozen=True, slots=True)
class Services:
    """What request handlers need, built once per app by the lifespan."""

    settings: Settings
    pool: Pool
    procrastinate: procrastinate.App
    #: The tasks this process imports (their pydantic models are authoritative).
    tasks: TaskRegistry
    #: Those, then the tasks published in the catalog: what jobs may be created for.
    directory: TaskDirectory
    #: This process' own entries in the catalog.
    publisher: CatalogPublisher


def get_services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(get_services)]
