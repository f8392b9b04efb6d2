"""Live job events as Server-Sent Events: ``GET /events`` and ``GET /jobs/{id}/events``.

Each message is one state change (deferred, started, succeeded, failed,
deferred_for_retry, retried, cancelled, abort_requested, aborted, scheduled) or
one progress report, as JSON in ``data``; its ``id`` is the cursor to resume
from. Browsers' ``EventSource`` resumes by itself (it sends ``Last-Event-ID``
when it reconnects); other clients send that header, or ``?since=`` on the
first request. Cursors and the replay are described in ``jobs.live.stream``
and docs/observability.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from api.observability import Observability, ObservabilityDep
from api.sse import MEDIA_TYPE, EventStreamResponse
from db import observability_store
from jobs.errors import JobNotFound
from jobs.live.event import EventFilter
from jobs.live.stream import Cursor, LiveStream

router = APIRouter(tags=["events"])

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless text/event-stream; each data line is one event's JSON.",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
    400: {"description": "Last-Event-ID (or since) is not a cursor this API sent."},
    503: {"description": "Too many live streams on this process, or shutting down."},
}

LastEventId = Annotated[
    str | None,
    Header(description="Cursor of the last message received; the stream resumes after it."),
]
Since = Annotated[
    str | None,
    Query(description="Same as Last-Event-ID, for clients that cannot set headers."),
]


@router.get("/events", response_class=EventStreamResponse, responses=_STREAM)
async def all_events(
    observability: ObservabilityDep,
    queue: Annotated[str | None, Query(max_length=128)] = None,
    task: Annotated[str | None, Query(max_length=128)] = None,
    last_event_id: LastEventId = None,
    since: Since = None,
) -> Response:
    """Every job's state changes and progress, live (optionally of one queue and/or task).

    Without a cursor the stream starts now (its first message, ``event: ready``,
    carries the cursor of "now"); with one it first replays what was missed.
    """
    return await _open(observability, EventFilter(queue=queue, task=task), last_event_id or since)


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventStreamResponse,
    responses={**_STREAM, 404: {"description": "No such job."}},
)
async def job_events(
    job_id: int,
    observability: ObservabilityDep,
    last_event_id: LastEventId = None,
    since: Since = None,
) -> Response:
    """One job's state changes and progress: its whole history first (or what followed the
    cursor), its current progress if it is running, then live changes."""
    async with observability.pool.connection() as conn:
        if await observability_store.job_route_get(conn, job_id) is None:
            raise JobNotFound(job_id)
    return await _open(observability, EventFilter(job_id=job_id), last_event_id or since)


async def _open(
    observability: Observability, event_filter: EventFilter, cursor: str | None
) -> Response:
    resume = Cursor.parse(cursor) if cursor else None  # InvalidEventCursor: 400
    stream = LiveStream(observability.hub, event_filter, resume)
    await stream.open()  # TooManySubscribers, HubClosed: 503 (api/errors.py)
    settings = observability.settings
    return EventStreamResponse(stream, keepalive=settings.events_keepalive_seconds)
