"""/dead-letters: jobs that exhausted their retries; list them, retry them in bulk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api import presenters
from api.deps import ServicesDep
from api.schemas import DeadLetterPage, DeadLetterRetried, DeadLetterRetry
from db.dead_letter_store import DeadLetterFilter
from jobs.control import dead_letters

router = APIRouter(tags=["dead letters"])


@router.get("/dead-letters", responses={422: {"description": "Bad filter or cursor."}})
async def list_dead_letters(
    services: ServicesDep,
    task: Annotated[str | None, Query(max_length=128)] = None,
    queue: Annotated[str | None, Query(max_length=128)] = None,
    error_type: Annotated[str | None, Query(max_length=500)] = None,
    failed_after: Annotated[AwareDatetime | None, Query(description="Failed at or after.")] = None,
    failed_before: Annotated[AwareDatetime | None, Query(description="Failed before.")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> DeadLetterPage:
    """Failed jobs (retries exhausted) with their last error, most recently failed first."""
    settings = services.settings
    page_size = min(limit or settings.default_page_size, settings.max_page_size)
    filters = DeadLetterFilter(
        task=task,
        queue=queue,
        error_type=error_type,
        failed_after=failed_after,
        failed_before=failed_before,
    )
    after = dead_letters.DeadLetterCursor.decode(cursor) if cursor is not None else None
    async with services.pool.connection() as conn:
        rows, next_cursor = await dead_letters.list_dead_letters(
            conn, filters, limit=page_size, cursor=after
        )
    return DeadLetterPage(
        items=[presenters.dead_letter(row) for row in rows],
        next_cursor=next_cursor.encode() if next_cursor else None,
    )


@router.post(
    "/dead-letters/retry",
    responses={
        409: {"description": "A job took a queueing lock meanwhile; nothing retried, try again."},
        422: {"description": "No scope, or filters that disagree with it."},
    },
)
async def retry_dead_letters(body: DeadLetterRetry, services: ServicesDep) -> DeadLetterRetried:
    """Put the matching dead letters back in their queues, in one statement.

    ``scope: "matching"`` needs at least one filter; ``scope: "all"`` takes none.
    """
    filters = DeadLetterFilter(
        task=body.task,
        queue=body.queue,
        error_type=body.error_type,
        failed_after=body.failed_after,
        failed_before=body.failed_before,
    )
    async with services.pool.connection() as conn:
        outcome = await dead_letters.retry_dead_letters(
            conn, filters, scope=body.scope, job_ids=body.ids, dry_run=body.dry_run
        )
    return DeadLetterRetried(
        matched=outcome.matched,
        retried=outcome.retried,
        skipped=outcome.skipped,
        dry_run=outcome.dry_run,
    )
