"""The FastAPI app factory.

``create_app(settings)`` builds everything; the lifespan opens the one pool
and the procrastinate app on it. Nothing connects at import time, and two apps
with different settings can live in one process (the tests do it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import errors, openapi
from api.auth.access import Access
from api.auth.browser import SecurityHeaders
from api.body_limit import BodyLimitMiddleware
from api.dashboard import login
from api.dashboard import routes as dashboard
from api.deps import Services
from api.metrics import Metrics, RequestMetricsMiddleware
from api.observability import observability_lifespan
from api.routes import (
    batches,
    dead_letters,
    events,
    health,
    jobs,
    keys,
    metrics,
    schedules,
    tasks,
)
from db.pool import create_pool
from jobs.background import BackgroundTask
from jobs.control.catalog import TaskCatalog, TaskDirectory
from jobs.settings import Settings
from jobs.tasks.catalog import CatalogPublisher
from jobs.tasks.modules import load_task_modules
from jobs.tasks.registry import TaskRegistry, registry
from jobs.tasks.routing import DeclaredNames, declared_names
from jobs.worker.app import build_app


def create_app(settings: Settings, *, tasks_registry: TaskRegistry = registry) -> FastAPI:
    database_url = settings.require_database_url()
    load_task_modules(settings.task_modules)  # a module that cannot load stops us here
    imported = declared_names(tasks_registry, settings.extra_queues)

    def declared() -> DeclaredNames:
        """Imported and published tasks and queues (only imported ones before start-up)."""
        directory = _directory(app)
        return imported if directory is None else directory.declared(settings.extra_queues)

    # this app's own registry: two apps in one process never mix
    app_metrics = Metrics(declared=declared)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = create_pool(
            database_url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
        )
        # wait=False: the API starts (and answers 503) even while Postgres is down.
        await pool.open(wait=False)
        procrastinate_app = build_app(settings, tasks=tasks_registry)
        await procrastinate_app.open_async(pool)
        catalog = TaskCatalog(settings)
        publisher = CatalogPublisher(pool, settings, tasks_registry, kind="api")
        catalog_reader = BackgroundTask("pgjobs catalog reader", lambda: catalog.keep_fresh(pool))
        app.state.services = Services(
            settings=settings,
            pool=pool,
            procrastinate=procrastinate_app,
            tasks=tasks_registry,
            directory=TaskDirectory(tasks_registry, catalog),
            publisher=publisher,
        )
        app.state.access = Access.build(settings, pool)
        publisher.start()
        catalog_reader.start()
        try:
            async with observability_lifespan(app, settings, pool, app_metrics):
                yield
        finally:
            await catalog_reader.stop()
            await publisher.stop()
            await procrastinate_app.close_async()
            await pool.close()

    # FastAPIOffline: /docs and /redoc serve Swagger UI and ReDoc from the fastapi-offline
    # package's files, never from a CDN (the API must document itself with no internet).
    app = FastAPIOffline(
        static_url="/docs/static",
        title="pgjobs",
        version="0.1.0",
        summary="A durable job queue in Postgres: create, watch, cancel and retry jobs over HTTP.",
        lifespan=lifespan,
    )
    openapi.install(app, lambda: _directory(app))
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        path_limits={"/batches": settings.max_batch_body_bytes},
    )
    app.add_middleware(RequestMetricsMiddleware, metrics=app_metrics)
    if settings.cors_origins:  # browsers' cross-origin calls, from these origins only
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["Location", "Retry-After"],
            allow_credentials=False,  # bearer keys only: never the dashboard's cookie
            max_age=600,
        )
    # outermost: every answer carries them, errors and static files included
    app.add_middleware(SecurityHeaders, static_prefix=dashboard.STATIC_PATH)
    errors.install(app)
    app.include_router(jobs.router)
    app.include_router(batches.router)
    app.include_router(dead_letters.router)
    app.include_router(tasks.router)
    app.include_router(keys.router)
    app.include_router(schedules.router)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    app.include_router(login.router)
    app.mount(
        dashboard.STATIC_PATH, StaticFiles(directory=dashboard.STATIC), name="dashboard-static"
    )
    return app


def _directory(app: FastAPI) -> TaskDirectory | None:
    """The app's task directory once its lifespan started (None before)."""
    services: Services | None = getattr(app.state, "services", None)
    return services.directory if services is not None else None
