"""``/health`` (liveness) and ``/health/ready`` (readiness).

``/health`` answers 200 whenever the process runs, without touching the
database: it reports the result of the last background check (every
``PGJOBS_HEALTH_CHECK_INTERVAL_SECONDS``), so a liveness probe never restarts
the API because Postgres is slow or down. ``/health/ready`` runs the checks now
(``jobs.monitoring.health``) and answers 503, saying what is wrong, unless all pass.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.errors import RETRY_AFTER_SECONDS
from api.observability import ObservabilityDep
from api.schemas import DatabaseHealth, Health, QueueHealth, WorkersHealth
from jobs.monitoring.health import HealthReport

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def liveness(observability: ObservabilityDep) -> JSONResponse:
    """200 while the process is up; the body is the last readiness check (see checked_at)."""
    report = observability.monitor.last
    if report is None:
        body = Health(
            status="down",
            problems=["not checked yet"],
            database=DatabaseHealth(reachable=False, expected_revision=""),
            workers=WorkersHealth(alive=0, ids=[]),
        )
    else:
        body = _body(report)
    return JSONResponse(status_code=200, content=body.model_dump(mode="json"))


@router.get("/health/ready", response_model=Health, responses={503: {"model": Health}})
async def readiness(observability: ObservabilityDep) -> JSONResponse:
    """200 when the database is reachable at the expected schema, live events flow, a worker
    is alive and no queue of PGJOBS_READY_QUEUES lags past its limit; else 503 saying why."""
    report = await observability.monitor.refresh()
    return JSONResponse(
        status_code=200 if report.ready else 503,
        content=_body(report).model_dump(mode="json"),
        headers=None if report.ready else {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _body(report: HealthReport) -> Health:
    database = report.database
    return Health(
        status=report.status,
        problems=report.problems,
        database=DatabaseHealth(
            reachable=database.reachable,
            revision=database.revision,
            expected_revision=database.expected_revision,
            at_head=database.at_head,
            error=database.error,
        ),
        workers=WorkersHealth(alive=len(report.alive_worker_ids), ids=report.alive_worker_ids),
        queues={
            name: QueueHealth(
                runnable=queue.runnable, oldest_seconds=queue.oldest_seconds, ok=queue.ok
            )
            for name, queue in report.queues.items()
        },
        live_events=report.live_events,
        checked_at=report.checked_at,
    )
