from __future__ import annotations

import datetime
import uuid

import pytest

from db.types import JobStatus
from jobs.control.batches import MAX_BATCH_SIZE, BatchStatus, prepare_batch
from jobs.control.enqueue import JobCreate, unique_lock
from jobs.errors import BatchRejected, InvalidJobOptions


def _status(**counts: int) -> BatchStatus:
    every = dict.fromkeys(JobStatus, 0)
    return BatchStatus(
        id=uuid.uuid4(),
        created_at=datetime.datetime.now(datetime.UTC),
        created_by="api",
        size=sum(counts.values()),
        counts=every | {JobStatus(status): count for status, count in counts.items()},
        deleted=0,
        progress_percent=0.0,
    )


@pytest.mark.parametrize(
    ("counts", "state", "finished", "failed"),
    [
        ({"todo": 1, "succeeded": 1}, "running", False, False),
        ({"doing": 1, "failed": 1}, "running", False, True),
        ({"succeeded": 2}, "succeeded", True, False),
        ({"succeeded": 1, "aborted": 1}, "failed", True, True),
        ({"succeeded": 1, "cancelled": 1}, "cancelled", True, False),
        ({"failed": 1, "cancelled": 1}, "failed", True, True),
    ],
)
def test_batch_state(counts: dict[str, int], state: str, finished: bool, failed: bool) -> None:
    status = _status(**counts)
    assert (status.state, status.finished, status.failed) == (state, finished, failed)


def test_prepare_batch_names_every_bad_job_by_index() -> None:
    good = JobCreate(task="tools.run", args={"tool": "t"})
    requests = [good, JobCreate(task="nope", args={}), good, JobCreate(task="tools.run", args={})]
    with pytest.raises(BatchRejected) as rejected:
        prepare_batch(requests)
    assert [index for index, _ in rejected.value.errors] == [1, 3]
    assert "2 of 4 jobs are invalid" in str(rejected.value)


def test_prepare_batch_bounds() -> None:
    with pytest.raises(InvalidJobOptions, match="1 to 10000"):
        prepare_batch([])
    with pytest.raises(InvalidJobOptions, match="1 to 10000"):
        prepare_batch([JobCreate(task="tools.run", args={"tool": "t"})] * (MAX_BATCH_SIZE + 1))


def test_unique_locks_hash_the_validated_arguments() -> None:
    assert unique_lock("t", {"a": 1, "b": [1, 2]}) == unique_lock("t", {"b": [1, 2], "a": 1})
    assert unique_lock("t", {"a": 1}) != unique_lock("u", {"a": 1})
    assert unique_lock("t", {"a": 1}) != unique_lock("t", {"a": 2})
