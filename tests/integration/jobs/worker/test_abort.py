"""Cancel and abort with a real in-process worker listening for abort notifications."""

from __future__ import annotations

from typing import Any

import httpx

from jobs.settings import Settings
from tests.integration.helpers import run_worker_until


async def _get(client: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    job: dict[str, Any] = (await client.get(f"/jobs/{job_id}")).json()
    return job


async def test_running_sync_job_sees_the_abort_through_should_stop(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    created = await client.post(
        "/jobs",
        json={
            "task": "video.transcode",
            "args": {"video_url": "s3://b/long.mov", "duration_seconds": 60, "segments": 600},
        },
    )
    job_id = created.json()["id"]
    cancel_status: list[int] = []

    async def aborted() -> bool:
        job = await _get(client, job_id)
        if job["status"] == "doing" and not cancel_status:
            cancel_status.append((await client.post(f"/jobs/{job_id}/cancel")).status_code)
        return job["status"] in ("succeeded", "failed", "aborted")

    await run_worker_until(settings, aborted, listen_notify=True)
    job = await _get(client, job_id)
    assert cancel_status == [200]
    assert job["status"] == "aborted"
    assert job["cancellation"]["requested_by"] == "api"
    assert job["attempt_history"][-1]["outcome"] == "aborted"
    assert job["error"]["type"] == "procrastinate.exceptions.JobAborted"
    # stopped between two segments, long before the 60 s of work
    assert job["progress"] is None or job["progress"]["percent"] < 50
    assert [event["type"] for event in job["events"]][-2:] == ["abort_requested", "aborted"]
