"""Query parameters shared by API routes and dashboard pages.

Above all the filters of the one job query, shared by ``GET /jobs`` and
``/dashboard/jobs``: both take the same names with the same meaning (``status``
repeated, ``queue``, ``task``, ``text``, ``created_after``, ``created_before``,
``maintenance``, ``cursor``), so a dashboard URL and an API URL select the same jobs. A blank
value means "any", as an HTML form's "any" option sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import AwareDatetime, BeforeValidator, Field

from db.types import JobStatus
from jobs.control.query import JobFilter
from jobs.maintenance.tasks import MAINTENANCE_QUEUE


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _without_blanks(values: Any) -> Any:
    if isinstance(values, list):
        return [value for value in values if value != ""] or None
    return values


# Constraints sit on the inner type: the outer one may be None once a blank is dropped.
ShortText = Annotated[str, Field(max_length=200)]
#: An optional text parameter of at most 200 characters; blank means absent.
Text = Annotated[ShortText | None, BeforeValidator(_blank_is_none), Query()]


@dataclass(frozen=True, slots=True)
class JobListQuery:
    job_filter: JobFilter
    #: ``next_cursor`` of the previous page (None: the newest jobs).
    cursor: int | None


def job_list_query(
    status: Annotated[
        list[JobStatus] | None,
        BeforeValidator(_without_blanks),
        Query(description="Any of these statuses (repeat the parameter)."),
    ] = None,
    queue: Text = None,
    task: Text = None,
    text: Annotated[
        ShortText | None,
        BeforeValidator(_blank_is_none),
        Query(description="Case-insensitive text in the arguments' JSON."),
    ] = None,
    created_after: Annotated[
        AwareDatetime | None,
        BeforeValidator(_blank_is_none),
        Query(description="Created at or after (with a time zone)."),
    ] = None,
    created_before: Annotated[
        AwareDatetime | None,
        BeforeValidator(_blank_is_none),
        Query(description="Created before (with a time zone)."),
    ] = None,
    cursor: Annotated[
        Annotated[int, Field(ge=1)] | None,
        BeforeValidator(_blank_is_none),
        Query(description="next_cursor of the previous page."),
    ] = None,
    maintenance: Annotated[
        bool,
        Query(
            description="Include pgjobs' own maintenance jobs (queue pgjobs.maintenance: the "
            "stalled-job rescue every 10 s, retention), left out unless asked for here or "
            "by queue or task."
        ),
    ] = False,
) -> JobListQuery:
    shown = maintenance or (task is not None and task.startswith("pgjobs."))
    return JobListQuery(
        job_filter=JobFilter(
            statuses=frozenset(status or ()),
            queue=queue,
            task=task,
            text=text,
            created_after=created_after,
            created_before=created_before,
            hidden_queues=frozenset() if shown else frozenset({MAINTENANCE_QUEUE}),
        ),
        cursor=cursor,
    )


JobFilterDep = Annotated[JobListQuery, Depends(job_list_query)]
