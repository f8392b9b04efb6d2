from __future__ import annotations

import pytest

from jobs.errors import InvalidJobOptions
from jobs.tasks.registry import registry
from jobs.tasks.routing import UnknownQueues, known_queues, worker_queues


def test_known_queues_are_the_tasks_defaults_plus_declared_extras() -> None:
    known = known_queues(registry, ("urgent",))
    assert known >= {"llm", "video", "tools", "agents", "maintenance", "urgent"}
    assert known - {"urgent"} == {spec.queue for spec in registry}
    assert worker_queues("", known) == []
    assert worker_queues("llm, urgent", known) == ["llm", "urgent"]
    with pytest.raises(UnknownQueues, match="unknown queue\\(s\\): lmm; known queues: agents"):
        worker_queues("llm,lmm", known)
    with pytest.raises(InvalidJobOptions, match="PGJOBS_EXTRA_QUEUES"):
        known_queues(registry, ("no spaces",))
