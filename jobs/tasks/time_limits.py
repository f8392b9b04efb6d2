"""Time limits as tasks and jobs declare them: soft (the task is told) then hard (stopped).

A task declares defaults (``registry.task(..., time_limit=60, soft_time_limit=50)``)
and a job may override either at creation (``POST /jobs`` ``time_limit`` /
``soft_time_limit``, ``enqueue(..., time_limit=...)``). Each attempt gets its own
:class:`~jobs.worker.clock.JobClock`, started by the worker middleware:

* at the **soft** limit an async task gets :class:`SoftTimeLimitExceeded`
  raised at the ``await`` it is suspended on (it may catch it, clean up and
  return a partial result); a sync task sees ``ctx.should_stop()`` turn true
  and ``ctx.time_left()`` reach 0;
* at the **hard** limit the attempt is cancelled and fails with
  :class:`TimeLimitExceeded`, which the task's retry policy may retry. A sync
  task's thread cannot be killed: it is abandoned (see :mod:`jobs.worker.threads`).

This module holds what is declared and checked when a task is registered or a
job is created; :mod:`jobs.worker.clock` enforces it while an attempt runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jobs.errors import InvalidJobOptions

#: Longest accepted limit (a week): a larger number is almost surely milliseconds.
MAX_TIME_LIMIT = 7 * 24 * 3600.0


class SoftTimeLimitExceeded(Exception):
    """Raised into an async task at its soft time limit; it may catch it and wrap up."""


class TimeLimitExceeded(Exception):
    """The attempt ran past its hard time limit and was stopped."""


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """Seconds an attempt may run: ``soft`` warns the task, ``hard`` stops it (None: no limit)."""

    hard: float | None = None
    soft: float | None = None

    def __bool__(self) -> bool:
        return self.hard is not None or self.soft is not None

    def override(self, hard: float | None, soft: float | None) -> TimeLimits:
        """These limits with a job's own values (None keeps the task's)."""
        return TimeLimits(
            hard=hard if hard is not None else self.hard,
            soft=soft if soft is not None else self.soft,
        )


def check_time_limits(
    hard: float | None,
    soft: float | None,
    *,
    hard_field: str = "time_limit",
    soft_field: str = "soft_time_limit",
) -> TimeLimits:
    """Validate a pair of limits; errors name the field (declaration or request) at fault."""
    for name, value in ((hard_field, hard), (soft_field, soft)):
        if value is not None and not (math.isfinite(value) and 0 < value <= MAX_TIME_LIMIT):
            raise InvalidJobOptions(name, f"must be > 0 and at most {MAX_TIME_LIMIT:.0f} seconds")
    if hard is not None and soft is not None and soft > hard:
        raise InvalidJobOptions(
            soft_field, f"({soft:g} s) must not exceed the hard time limit ({hard:g} s)"
        )
    return TimeLimits(hard=hard, soft=soft)


def job_time_limits(
    task_limits: TimeLimits, time_limit: float | None, soft_time_limit: float | None
) -> TimeLimits:
    """A job's effective limits: its overrides over the task's defaults, checked together.

    An override that contradicts a default it does not replace (a 10 s
    ``time_limit`` on a task whose soft limit is 50 s) is refused rather than
    silently dropping the soft limit.
    """
    check_time_limits(time_limit, soft_time_limit)
    effective = task_limits.override(time_limit, soft_time_limit)
    hard, soft = effective.hard, effective.soft
    if hard is not None and soft is not None and soft > hard:
        if time_limit is not None and soft_time_limit is None:
            raise InvalidJobOptions(
                "time_limit",
                f"({hard:g} s) is shorter than the task's soft time limit "
                f"({soft:g} s): give a soft_time_limit too",
            )
        raise InvalidJobOptions(
            "soft_time_limit",
            f"({soft:g} s) must not exceed the time limit ({hard:g} s)",
        )
    return effective
