"""The observability services of one app: live events, queue figures, health, metrics.

Built by the app's lifespan on the app's pool (``observability_lifespan``) and
reached by routes through :data:`ObservabilityDep`. The metrics registry is
created with the app (its request middleware is installed before the lifespan
runs) and bound to the database-backed sources here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from api.exit_signals import on_exit_signals
from api.metrics import Metrics
from db.types import Pool
from jobs.live.hub import EventHub
from jobs.monitoring import health
from jobs.monitoring.event_tail import EventTail
from jobs.monitoring.queue_stats import QueueStatsCache
from jobs.settings import Settings
from migrations.head import head_revision

#: Startup waits this long for the listener to connect, then runs the first health check
#: (at most jobs.monitoring.health.DATABASE_TIMEOUT): the API must start, and say what is wrong,
#: even while Postgres is down.
LISTENER_STARTUP_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Observability:
    settings: Settings
    pool: Pool
    hub: EventHub
    stats: QueueStatsCache
    tail: EventTail
    monitor: health.HealthMonitor
    metrics: Metrics


def get_observability(request: Request) -> Observability:
    found: Observability = request.app.state.observability
    return found


ObservabilityDep = Annotated[Observability, Depends(get_observability)]


@contextlib.asynccontextmanager
async def observability_lifespan(
    app: FastAPI, settings: Settings, pool: Pool, metrics: Metrics
) -> AsyncIterator[Observability]:
    """Start the listener and the health monitor; stop them (streams first) on the way out."""
    hub = EventHub(
        settings.require_database_url(),
        pool,
        queue_size=settings.events_client_buffer,
        max_subscribers=settings.events_max_clients,
        gap_grace_seconds=settings.events_gap_grace_seconds,
    )
    stats = QueueStatsCache(
        pool,
        ttl=settings.metrics_cache_seconds,
        totals_ttl=settings.metrics_totals_cache_seconds,
        stalled_after_seconds=settings.worker_stalled_after_seconds,
    )
    tail = EventTail(pool, hub)
    metrics.bind(stats, tail, hub)
    expected_revision = head_revision()

    async def run_check() -> health.HealthReport:
        return await health.check(
            settings, stats, expected_revision=expected_revision, live_events=hub.connected
        )

    monitor = health.HealthMonitor(run_check, settings.health_check_interval_seconds)
    observability = Observability(
        settings=settings,
        pool=pool,
        hub=hub,
        stats=stats,
        tail=tail,
        monitor=monitor,
        metrics=metrics,
    )
    app.state.observability = observability
    hub.start()
    undo_signals = on_exit_signals(hub.close)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LISTENER_STARTUP_SECONDS):
                await hub.wait_connected()
        await monitor.refresh()  # bounded by its own database timeout
        monitor.start()
        tail.start()
        yield observability
    finally:
        undo_signals()
        await tail.stop()
        await monitor.stop()
        await hub.stop()
