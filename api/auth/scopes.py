"""Scopes (what an API key may do) and roles (what a dashboard user may do).

``admin`` implies every other scope, and is the only way to touch pgjobs' own
tasks and queue (``pgjobs.*``, ``pgjobs.maintenance``), bulk-retry dead letters
or manage keys. A user's role stands for a set of scopes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Scope(enum.StrEnum):
    #: Read jobs, batches, dead letters, tasks, schedules, live events; view the dashboard.
    JOBS_READ = "jobs:read"
    #: Create jobs and batches.
    JOBS_CREATE = "jobs:create"
    #: Cancel, abort and retry jobs one by one.
    JOBS_MANAGE = "jobs:manage"
    #: Scrape ``/metrics`` (figures of every queue: never given to a queue-restricted key).
    METRICS_READ = "metrics:read"
    #: Everything: bulk actions on dead letters, keys, queue control, pgjobs' internal tasks.
    ADMIN = "admin"


#: Scopes a key restricted to some queues may not have (they reach every queue).
UNRESTRICTED_ONLY = frozenset({Scope.METRICS_READ, Scope.ADMIN})

#: A dashboard user's role -> its scopes.
ROLES: dict[str, frozenset[Scope]] = {
    "viewer": frozenset({Scope.JOBS_READ}),
    "operator": frozenset({Scope.JOBS_READ, Scope.JOBS_CREATE, Scope.JOBS_MANAGE}),
    "admin": frozenset({Scope.ADMIN}),
}


class InvalidScopes(ValueError):
    """Scope names that do not exist, or a combination that is not allowed."""


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """Scopes from their names (``jobs:read``...); raises :class:`InvalidScopes` naming the bad."""
    wanted = [name.strip() for name in names if name.strip()]
    known = {scope.value for scope in Scope}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise InvalidScopes(
            f"unknown scope(s): {', '.join(unknown)}; scopes are {', '.join(sorted(known))}"
        )
    if not wanted:
        raise InvalidScopes(f"give at least one scope of: {', '.join(sorted(known))}")
    return frozenset(Scope(name) for name in wanted)


def grants(held: Iterable[Scope], wanted: Scope) -> bool:
    """Whether scopes ``held`` allow ``wanted`` (admin allows everything)."""
    held = set(held)
    return wanted in held or Scope.ADMIN in held
