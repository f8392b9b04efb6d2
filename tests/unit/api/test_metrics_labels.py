"""Metric labels come from declared names only: whatever the data holds, the series are bounded."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from api.metrics import Metrics
from jobs.monitoring.event_tail import EventFigure
from jobs.tasks.routing import OTHER, DeclaredNames

DECLARED = DeclaredNames(queues=frozenset({"llm"}), tasks=frozenset({"llm.generate"}))


def _figure(queue: str, task: str, kind: str = "succeeded") -> EventFigure:
    return EventFigure(
        type=kind, queue=queue, task=task, run_seconds=1.0, pickup_seconds=None, rescued=False
    )


def test_undeclared_queues_and_tasks_are_counted_as_other() -> None:
    metrics = Metrics(declared=lambda: DECLARED)
    metrics._observe(_figure("llm", "llm.generate"))
    for n in range(500):
        metrics._observe(_figure(f"q{n}", f"t{n}"))
        metrics._observe(_figure("llm", f"t{n}", "retried"))
    labels = {
        (sample.labels.get("queue"), sample.labels.get("task"))
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
        if sample.name.startswith("pgjobs_job")
    }
    assert labels == {("llm", "llm.generate"), (OTHER, OTHER), ("llm", OTHER)}
