"""``/dashboard``: server-rendered pages over the same data and actions as the API.

Pages are Jinja2 templates (``api/dashboard/templates``) with a small hand-written script
(``api/dashboard/static/dashboard.js``) that keeps them live: it listens to the SSE
stream (``/events``, or ``/jobs/{id}/events`` on a job's page) and, when
something changes, fetches the page again and swaps its ``data-live``
regions. Every button is a ``fetch`` of the public API (``POST
/jobs/{id}/retry``, ``/cancel``, ``/dead-letters/retry``): the dashboard can do
nothing a client cannot.
"""

from __future__ import annotations

import datetime
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api import presenters
from api.auth import tokens
from api.auth.browser import session_cookie
from api.dashboard import views as dashboard_views
from api.deps import ServicesDep
from api.observability import ObservabilityDep
from api.query_params import JobFilterDep, Text
from api.routing import principal_of
from db.dead_letter_store import DeadLetterFilter
from db.types import RETRYABLE_STATUSES, JobStatus
from jobs.control import actions as control
from jobs.control import dead_letters
from jobs.control.query import SCAN_LIMIT, query_jobs
from jobs.errors import JobNotFound
from jobs.monitoring.event_tail import CHART_MINUTES
from jobs.monitoring.schedules import list_schedules

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

router = APIRouter(prefix="/dashboard", include_in_schema=False)

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Where api/dashboard/static is mounted (api.app).
STATIC_PATH = "/dashboard/static"
STATIC = Path(__file__).resolve().parent / "static"
PAGE_SIZE = 50
#: Seconds between refreshes of a page that events alone would not update (ages, lag).
REFRESH_SECONDS = 5


@functools.cache
def templates() -> Jinja2Templates:
    """The page templates, loaded on the first page rendered.

    Importing Jinja2 costs about a tenth of a second: the API's start-up (and a
    deployment that never opens the dashboard) does not pay it.
    """
    from fastapi.templating import Jinja2Templates

    loaded = Jinja2Templates(directory=TEMPLATES)
    loaded.env.filters.update(
        age=dashboard_views.age,
        when=dashboard_views.when,
        pretty_json=dashboard_views.pretty_json,
        size=dashboard_views.size,
    )
    loaded.env.globals.update(
        static_path=STATIC_PATH, statuses=list(JobStatus), retryable_statuses=RETRYABLE_STATUSES
    )
    return loaded


def _render(
    request: Request, template: str, *, page: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    now = datetime.datetime.now(datetime.UTC)
    principal = principal_of(request)
    session = session_cookie(request) if principal and principal.via == "session" else None
    return templates().TemplateResponse(
        request,
        template,
        {
            "page": page,
            "now": now,
            "since": dashboard_views.since,
            "principal": principal,
            "csrf": tokens.csrf_token(session) if session else None,
            **context,
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, observability: ObservabilityDep) -> HTMLResponse:
    stats = await observability.stats.get()
    await observability.tail.advance()
    finished = observability.tail.throughput.rows()
    now = datetime.datetime.now(datetime.UTC)
    return _render(
        request,
        "overview.html",
        page="overview",
        stats=stats,
        counts={status: stats.count(status) for status in JobStatus},
        chart=dashboard_views.throughput_chart(finished, now, CHART_MINUTES),
        stream="/events",
        refresh=REFRESH_SECONDS,
    )


@router.get("/jobs", response_class=HTMLResponse)
async def job_list(
    request: Request,
    services: ServicesDep,
    observability: ObservabilityDep,
    query: JobFilterDep,
) -> HTMLResponse:
    """The jobs ``GET /jobs`` lists, with the same query parameters, as a table."""
    async with services.pool.connection() as conn:
        page = await query_jobs(conn, query.job_filter, cursor=query.cursor, limit=PAGE_SIZE)
    stats = await observability.stats.get()
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "cursor"]
    return _render(
        request,
        "jobs.html",
        page="jobs",
        jobs=[presenters.summary(row) for row in page.rows],
        scan=page,
        scan_limit=SCAN_LIMIT,
        filters=query.job_filter,
        newest_url=f"?{urlencode(kept)}" if query.cursor else None,
        older_url=f"?{urlencode([*kept, ('cursor', page.next_cursor)])}"
        if page.next_cursor
        else None,
        queues=sorted(set(stats.queues) | services.directory.queues()),
        tasks=services.directory.names(),
        stream="/events",
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: int, services: ServicesDep) -> HTMLResponse:
    try:
        async with services.pool.connection() as conn:
            job = presenters.job(await control.get_job(conn, job_id))
    except JobNotFound:
        return _render(request, "not_found.html", page="jobs", status_code=404, job_id=job_id)
    last_event = job.events[-1].id if job.events else 0
    return _render(
        request,
        "job.html",
        page="jobs",
        job=job,
        timeline=dashboard_views.timeline(job.events, job.created_at),
        stream=f"/jobs/{job.id}/events?since={last_event}",
    )


@router.get("/queues", response_class=HTMLResponse)
async def queues(request: Request, observability: ObservabilityDep) -> HTMLResponse:
    stats = await observability.stats.get()
    return _render(
        request,
        "queues.html",
        page="queues",
        stats=stats,
        stream="/events",
        refresh=REFRESH_SECONDS,
    )


@router.get("/workers", response_class=HTMLResponse)
async def workers(request: Request, observability: ObservabilityDep) -> HTMLResponse:
    stats = await observability.stats.get(max_age=0)  # heartbeats move on their own
    return _render(
        request,
        "workers.html",
        page="workers",
        stats=stats,
        stream="/events",
        refresh=REFRESH_SECONDS,
    )


@router.get("/tasks", response_class=HTMLResponse)
async def task_list(request: Request, services: ServicesDep) -> HTMLResponse:
    """Every known task, where it runs, and whether two versions of its code are live."""
    async with services.pool.connection() as conn:
        await services.directory.refresh(conn)
    return _render(
        request,
        "tasks.html",
        page="tasks",
        tasks=presenters.tasks(services.directory, services.settings),
        refresh=REFRESH_SECONDS,
    )


@router.get("/schedules", response_class=HTMLResponse)
async def schedules(request: Request, services: ServicesDep) -> HTMLResponse:
    async with services.pool.connection() as conn:
        periodic = await list_schedules(
            conn,
            services.procrastinate,
            services.tasks,
            now=datetime.datetime.now(datetime.UTC),
            next_runs=3,
            published=presenters.published_schedules(services.directory),
        )
    return _render(
        request, "schedules.html", page="schedules", schedules=periodic, stream="/events"
    )


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letter_list(
    request: Request,
    services: ServicesDep,
    task: Text = None,
    queue: Text = None,
    error_type: Text = None,
    cursor: Text = None,
) -> HTMLResponse:
    filters = DeadLetterFilter(task=task, queue=queue, error_type=error_type)
    after = dead_letters.DeadLetterCursor.decode(cursor) if cursor else None
    async with services.pool.connection() as conn:
        rows, next_cursor = await dead_letters.list_dead_letters(
            conn, filters, limit=PAGE_SIZE, cursor=after
        )
    return _render(
        request,
        "dead_letters.html",
        page="dead-letters",
        letters=[presenters.dead_letter(row) for row in rows],
        filters=filters,
        filtered=any((filters.task, filters.queue, filters.error_type)),
        next_cursor=next_cursor.encode() if next_cursor else None,
        tasks=services.directory.names(),
        stream="/events",
    )
