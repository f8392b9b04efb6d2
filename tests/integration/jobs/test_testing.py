"""jobs.testing: what application tests use to assert a job was enqueued."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from jobs.control.enqueue import enqueue
from jobs.testing import assert_enqueued, assert_not_enqueued

Conn = psycopg.AsyncConnection[Any]


async def test_assert_enqueued_matches_task_and_args(conn: Conn) -> None:
    await assert_not_enqueued(conn, "llm.generate")
    await enqueue(conn, "llm.generate", {"prompt": "a"})
    await enqueue(conn, "llm.generate", {"prompt": "b"})

    (job,) = await assert_enqueued(conn, "llm.generate", args={"prompt": "b"})
    assert job.args["prompt"] == "b"
    await assert_enqueued(conn, "llm.generate", count=2)
    with pytest.raises(AssertionError, match=r"no queued 'llm\.generate' job"):
        await assert_enqueued(conn, "llm.generate", args={"prompt": "c"})
    with pytest.raises(AssertionError, match="expected 3"):
        await assert_enqueued(conn, "llm.generate", count=3)
    with pytest.raises(AssertionError, match="expected none"):
        await assert_not_enqueued(conn, "llm.generate")
