"""Live events over SSE: history then live changes, filters, resume, ordering, slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from harness.conditions import DEFAULT_TIMEOUT
from jobs.live.event import EventFilter
from jobs.live.hub import SubscriptionEnded
from jobs.live.stream import Cursor
from jobs.settings import Settings
from tests.factories import make_job
from tests.integration.helpers import run_worker_until_idle
from tests.integration.live_server import LiveServer, serve
from tests.sse import Message, collect_until, messages, next_message

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve(settings) as server:
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


def _types(received: list[Message]) -> list[str]:
    return [message.json["type"] for message in received]


async def test_job_stream_sends_history_then_every_live_change_in_order(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    created = await http.post(
        "/jobs", json={"task": "agents.run", "args": {"agent": "a", "objective": "o", "steps": 2}}
    )
    job_id = created.json()["id"]
    async with http.stream("GET", f"/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = messages(response)
        replayed = await next_message(stream)
        worker = asyncio.create_task(run_worker_until_idle(settings))
        live = await collect_until(stream, lambda m: m.json["type"] == "succeeded")
        await worker

    received = [replayed, *live]
    assert _types(received) == ["deferred", "started", "progress", "progress", "succeeded"]
    assert [m.json["percent"] for m in received if m.json["type"] == "progress"] == [50, 100]
    # the state changes are the job's event timeline, same ids, same order
    timeline = (await http.get(f"/jobs/{job_id}")).json()["events"]
    assert [(e["id"], e["type"]) for e in timeline] == [
        (m.json["id"], m.json["type"]) for m in received if m.json["type"] != "progress"
    ]
    # cursors strictly increase: event ids, and steps after them for progress
    cursors = [Cursor.parse(m.id or "") for m in received]
    assert [(c.event_id, c.step) for c in cursors] == sorted(
        {(c.event_id, c.step) for c in cursors}
    )
    assert {m.json["job_id"] for m in received} == {job_id}


async def test_all_jobs_stream_delivers_after_commit_and_filters_by_queue(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    async with http.stream("GET", "/events", params={"queue": "llm"}) as response:
        stream = messages(response)
        ready = await next_message(stream)
        assert ready.event == "ready"
        async with conn.transaction():
            await make_job(conn, "tools.run", {"tool": "elsewhere"})
        async with conn.transaction():
            job = await make_job(conn, "llm.generate", {"prompt": "p"})
        message = await next_message(stream)  # how soon: bench/observability.py latency

    assert message.json["job_id"] == job.id  # the tools job was filtered out
    assert message.json["type"] == "deferred"
    assert message.json["queue"] == "llm"
    assert message.json["task"] == "llm.generate"


async def test_reconnecting_with_last_event_id_replays_what_was_missed_then_goes_live(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    async with http.stream("GET", "/events") as response:
        ready = await next_message(messages(response))
    missed = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(3)]

    async with http.stream("GET", "/events", headers={"Last-Event-ID": ready.id or ""}) as response:
        stream = messages(response)
        replay = [await next_message(stream) for _ in missed]
        later = await make_job(conn, "tools.run", {"tool": "later"})
        live = await next_message(stream)

    assert [(m.json["job_id"], m.json["type"]) for m in replay] == [
        (job.id, "deferred") for job in missed
    ]
    assert (live.json["job_id"], live.json["type"]) == (later.id, "deferred")


async def test_job_stream_resumes_after_its_last_event_without_repeats(
    http: httpx.AsyncClient, conn: Conn
) -> None:
    job = await make_job(conn, "tools.run", {"tool": "t"}, schedule_in=60)
    async with http.stream("GET", f"/jobs/{job.id}/events") as response:
        first = await collect_until(messages(response), lambda m: m.json["type"] == "deferred")
    assert (await http.post(f"/jobs/{job.id}/cancel")).status_code == 200

    async with http.stream(
        "GET", f"/jobs/{job.id}/events", params={"since": first[-1].id}
    ) as response:
        resumed = await collect_until(messages(response), lambda m: m.json["type"] == "cancelled")

    assert _types(first) == ["scheduled", "deferred"]
    assert _types(resumed) == ["abort_requested", "cancelled"]


async def test_an_event_committed_after_a_later_one_is_not_lost_on_resume(
    http: httpx.AsyncClient, conn: Conn, database_url: str
) -> None:
    """Event ids are taken at insert, NOTIFY is sent at commit: the cursor must not jump ahead."""
    async with await psycopg.AsyncConnection.connect(database_url) as slow:
        async with http.stream("GET", "/events") as response:
            stream = messages(response)
            await next_message(stream)
            early = await make_job(slow, "tools.run", {"tool": "early"})  # uncommitted
            late = await make_job(conn, "tools.run", {"tool": "late"})  # committed first
            seen = await next_message(stream)
        assert seen.json["job_id"] == late.id
        # the cursor stays below the uncommitted event (whose id is lower)
        assert seen.json["id"] > Cursor.parse(seen.id or "").event_id
        await slow.commit()

    async with http.stream("GET", "/events", headers={"Last-Event-ID": seen.id or ""}) as response:
        replay = await collect_until(messages(response), lambda m: m.json["job_id"] == early.id)
    assert early.id in {m.json["job_id"] for m in replay}


async def test_unknown_job_and_malformed_cursor_are_refused(http: httpx.AsyncClient) -> None:
    missing = await http.get("/jobs/999999/events")
    assert missing.status_code == 404
    assert missing.json()["error"] == "job_not_found"
    bad = await http.get("/events", headers={"Last-Event-ID": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_cursor"


async def test_streams_over_the_process_limit_get_503(settings: Settings) -> None:
    async with (
        serve(settings.model_copy(update={"events_max_clients": 1})) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
        client.stream("GET", "/events") as first,
    ):
        stream = messages(first)  # kept referenced: a collected reader closes the response
        await next_message(stream)
        second = await client.get("/events")
        assert second.status_code == 503
        assert second.headers["retry-after"]


async def test_a_slow_subscriber_is_dropped_without_holding_up_the_others(
    settings: Settings, conn: Conn
) -> None:
    async with serve(settings.model_copy(update={"events_client_buffer": 10})) as server:
        hub = server.observability.hub
        slow = hub.subscribe(EventFilter())  # never reads
        fast = hub.subscribe(EventFilter())
        received: list[int] = []

        async def read(count: int) -> None:
            while len(received) < count:
                delivery = await fast.next(5)
                if delivery is not None:
                    received.append(delivery.event.job_id)

        reader = asyncio.create_task(read(30))
        async with conn.transaction():  # 30 events in one burst, 3 times the buffer
            jobs = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(30)]
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            await reader
        assert received == [job.id for job in jobs]
        assert slow.ended == "fell behind"
        with pytest.raises(SubscriptionEnded):
            await slow.next(0.1)
        assert hub.subscribers_dropped == 1
        hub.unsubscribe(fast)


async def test_listener_reconnects_and_delivers_what_was_committed_meanwhile(
    live: LiveServer, conn: Conn
) -> None:
    hub = live.observability.hub
    subscription = hub.subscribe(EventFilter())
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'pgjobs-listener' AND datname = current_database()"
    )
    jobs = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(3)]
    received: list[int] = []
    async with asyncio.timeout(DEFAULT_TIMEOUT):
        while len(received) < len(jobs):
            delivery = await subscription.next(5)
            if delivery is not None:
                received.append(delivery.event.job_id)
    assert received == [job.id for job in jobs]
    assert hub.connections == 2
    hub.unsubscribe(subscription)


async def test_shutdown_ends_open_streams(live: LiveServer, http: httpx.AsyncClient) -> None:
    async with http.stream("GET", "/events") as response:
        stream = messages(response)
        await next_message(stream)
        live.observability.hub.close()
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            rest = [message async for message in stream]
    assert rest == []
    assert (await http.get("/events")).status_code == 503
