"""``GET /metrics``: Prometheus text format (what each figure is: ``api.metrics``)."""

from __future__ import annotations

import logging

import psycopg
from fastapi import APIRouter
from starlette.responses import Response

from api.metrics import CONTENT_TYPE
from api.observability import ObservabilityDep

router = APIRouter(tags=["metrics"])
logger = logging.getLogger(__name__)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(observability: ObservabilityDep) -> Response:
    """Prometheus metrics of the queue (read from Postgres) and of this API process.

    When the database cannot be read the process's own metrics are still served,
    with the database-backed ones as of the last successful scrape.
    """
    try:
        await observability.metrics.refresh()
    except psycopg.Error as error:  # PoolTimeout included
        logger.warning("metrics: database figures not refreshed (%s)", type(error).__name__)
    return Response(observability.metrics.render(), media_type=CONTENT_TYPE)
