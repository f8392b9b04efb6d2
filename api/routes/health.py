"""/health: is the database reachable, is its schema at alembic head, are workers alive."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.schemas import DatabaseHealth, Health, WorkersHealth
from db import status as db_status
from migrations.runner import head_revision

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(services: ServicesDep) -> JSONResponse:
    """200 when the database answers at the expected schema revision, else 503 saying why.

    Workers are reported, and their absence is a "degraded" 200: jobs are still
    accepted and will run when a worker starts.
    """
    expected = head_revision()
    problems: list[str] = []
    database = DatabaseHealth(reachable=False, expected_revision=expected)
    workers = WorkersHealth(alive=0, ids=[])
    try:
        async with services.pool.connection(timeout=2.0) as conn:
            revision = await db_status.schema_revision(conn)
            rows = await db_status.worker_list(conn)
        database = DatabaseHealth(
            reachable=True,
            revision=revision,
            expected_revision=expected,
            at_head=revision == expected,
        )
        stalled_after = services.settings.worker_stalled_after_seconds
        alive = [row["id"] for row in rows if row["heartbeat_age_seconds"] < stalled_after]
        workers = WorkersHealth(alive=len(alive), ids=alive)
    except Exception as error:  # any failure to talk to Postgres is the answer, not a crash
        database.error = type(error).__name__
        problems.append("database unreachable")
    if database.reachable and not database.at_head:
        problems.append(f"schema at {database.revision}, expected {expected}: run `pgjobs migrate`")
    if database.reachable and workers.alive == 0:
        problems.append("no live worker: jobs are accepted but will not run")
    if not database.reachable or not database.at_head:
        overall = "down"
    elif problems:
        overall = "degraded"
    else:
        overall = "ok"
    body = Health(status=overall, problems=problems, database=database, workers=workers)
    return JSONResponse(
        status_code=503 if overall == "down" else 200, content=body.model_dump(mode="json")
    )
