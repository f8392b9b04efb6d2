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
from dataclasses import dataclass

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


#: What undeclared queues and tasks are counted as, wherever a list must stay bounded.
OTHER = "(other)"


@dataclass(frozen=True, slots=True)
class DeclaredNames:
    """The queues and tasks pgjobs knows by declaration, as opposed to names found in data.

    Jobs may only be created in declared queues, but the jobs table can hold any
    name (jobs from before, plain procrastinate defers), so whatever counts by
    name for everyone to see (metric labels, dashboard lists) folds the rest
    into :data:`OTHER`: its size is bounded by the code, not by the data.
    """

    queues: frozenset[str]
    tasks: frozenset[str]

    def queue(self, name: str | None) -> str:
        return name if name is not None and name in self.queues else OTHER

    def task(self, name: str | None) -> str:
        return name if name is not None and name in self.tasks else OTHER


def declared_names(tasks: TaskRegistry, extra_queues: Iterable[str]) -> DeclaredNames:
    return DeclaredNames(
        queues=frozenset(known_queues(tasks, extra_queues)),
        tasks=frozenset(spec.name for spec in tasks),
    )
