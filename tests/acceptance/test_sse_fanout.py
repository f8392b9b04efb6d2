"""200 live streams on one API process while jobs run: every client sees every change, in order.

One uvicorn process (one LISTEN connection) serves 180 one-job streams (9 per
job) and 20 all-jobs streams while a procrastinate worker runs the jobs. How soon
events arrive is measured by ``bench/observability.py latency``, not here.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import httpx
import pytest

from harness.conditions import DEFAULT_TIMEOUT, wait_for
from harness.stack import Stack
from tests.sse import Message, messages, next_message

pytestmark = pytest.mark.acceptance

JOBS = 20
CLIENTS_PER_JOB = 9
BROAD_CLIENTS = 20
#: What one agents.run job with 3 steps goes through, state changes and progress.
EXPECTED = ["deferred", "started", "progress", "progress", "progress", "succeeded"]


class Received:
    """What one client got, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.succeeded: set[int] = set()

    def add(self, message: Message) -> None:
        self.messages.append(message)
        if message.json["type"] == "succeeded":
            self.succeeded.add(message.json["job_id"])

    def types_of(self, job_id: int) -> list[str]:
        return [m.json["type"] for m in self.messages if m.json["job_id"] == job_id]


async def _follow(
    http: httpx.AsyncClient,
    path: str,
    received: Received,
    connected: asyncio.Event,
    done: Any,
) -> None:
    async with http.stream("GET", path) as response:
        assert response.status_code == 200
        stream = messages(response)
        first = await next_message(stream)
        if first.event == "message":
            received.add(first)
        connected.set()
        async for message in stream:
            received.add(message)
            if done(received):
                return


async def test_two_hundred_clients_on_one_process_see_every_change_in_order(
    stack: Stack,
) -> None:
    stack.start_api()
    job_ids: list[int] = []
    limits = httpx.Limits(max_connections=BROAD_CLIENTS + JOBS * CLIENTS_PER_JOB + 10)
    async with httpx.AsyncClient(
        base_url=stack.base_url, timeout=DEFAULT_TIMEOUT, limits=limits
    ) as http:
        for n in range(JOBS):
            created = await http.post(
                "/jobs",
                json={
                    "task": "agents.run",
                    "args": {"agent": f"a{n}", "objective": "o", "steps": 3,
                             "seconds_per_step": 0.2},
                },
            )  # fmt: skip
            job_ids.append(created.json()["id"])

        one_job: dict[int, list[Received]] = defaultdict(list)
        broad: list[Received] = []
        tasks: list[asyncio.Task[None]] = []
        connections: list[asyncio.Event] = []
        for job_id in job_ids:
            for _ in range(CLIENTS_PER_JOB):
                received = Received()
                one_job[job_id].append(received)
                connections.append(asyncio.Event())
                tasks.append(
                    asyncio.create_task(
                        _follow(
                            http, f"/jobs/{job_id}/events", received, connections[-1],
                            lambda r, j=job_id: j in r.succeeded,
                        )
                    )
                )  # fmt: skip
        for _ in range(BROAD_CLIENTS):
            received = Received()
            broad.append(received)
            connections.append(asyncio.Event())
            tasks.append(
                asyncio.create_task(
                    _follow(
                        http, "/events", received, connections[-1],
                        lambda r: r.succeeded >= set(job_ids),  # maintenance jobs run too
                    )
                )
            )  # fmt: skip
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            await asyncio.gather(*(event.wait() for event in connections))
        live_clients = (await http.get("/metrics")).text
        assert f"pgjobs_live_clients {len(tasks)}.0" in live_clients

        stack.start_worker("--concurrency", "10")
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            await asyncio.gather(*tasks)
        timelines = {
            job_id: (await http.get(f"/jobs/{job_id}")).json()["events"] for job_id in job_ids
        }

    for job_id in job_ids:
        states = [event["type"] for event in timelines[job_id]]
        assert states == [t for t in EXPECTED if t != "progress"], states
        for received in one_job[job_id]:
            assert received.types_of(job_id) == EXPECTED
            percents = [m.json.get("percent") for m in received.messages]
            percents = [p for p in percents if p is not None]
            assert percents == sorted(percents)
            assert len(percents) == 3
        for received in broad:
            assert received.types_of(job_id) == EXPECTED[1:]  # these streams began later
    wait_for(lambda: stack.api is not None and stack.api.poll() is None, what="the API alive")
