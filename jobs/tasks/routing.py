"""Routing: which queues exist, and which of them a worker may be started on.

A job goes to its task's default queue unless it is created with ``queue``;
within the queues a worker takes, higher ``priority`` runs first, then older
jobs. A worker started with ``--queues`` takes jobs of those queues only, so a
misspelt name would start a worker that silently never runs anything: worker
queues must be *known*, that is the default queue of a registered task or a
name declared in ``PGJOBS_EXTRA_QUEUES`` (for jobs routed elsewhere at creation).
"""

from __future__ import annotations

from collections.abc import Iterable

from jobs.errors import JobsError
from jobs.tasks.registry import TaskRegistry, check_queue


class UnknownQueues(JobsError):
    """A worker was asked to take queues that no task uses and no setting declares."""

    def __init__(self, unknown: Iterable[str], known: Iterable[str]) -> None:
        self.unknown = sorted(unknown)
        self.known = sorted(known)
        super().__init__(
            f"unknown queue(s): {', '.join(self.unknown)}; known queues: "
            f"{', '.join(self.known)} (the tasks' default queues plus PGJOBS_EXTRA_QUEUES)"
        )


def known_queues(tasks: TaskRegistry, extra_queues: Iterable[str]) -> set[str]:
    """The registered tasks' default queues plus the declared extra ones (names checked)."""
    extra = {check_queue(name, "PGJOBS_EXTRA_QUEUES") for name in extra_queues}
    return tasks.queues() | extra


def worker_queues(requested: str, known: set[str]) -> list[str]:
    """Parse ``--queues`` (comma-separated; empty: every queue), refusing unknown names."""
    names = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = set(names) - known
    if unknown:
        raise UnknownQueues(unknown, known)
    return names
