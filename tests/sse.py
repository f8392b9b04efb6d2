"""A small Server-Sent Events reader for tests (the parsing rules of the SSE spec we use)."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from harness.conditions import DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Message:
    data: str
    id: str | None = None
    event: str = "message"

    @functools.cached_property
    def json(self) -> Any:
        return json.loads(self.data)


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """Messages of an open ``text/event-stream`` response, as they arrive (comments skipped)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Message(
                    data="\n".join(data), id=fields.get("id"), event=fields.get("event", "message")
                )
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name in ("id", "event"):
            fields[name] = value


async def next_message(stream: AsyncIterator[Message], within: float = DEFAULT_TIMEOUT) -> Message:
    async with asyncio.timeout(within):
        return await anext(stream)


async def collect_until(
    stream: AsyncIterator[Message],
    done: Callable[[Message], bool],
    within: float = DEFAULT_TIMEOUT,
) -> list[Message]:
    """Messages up to and including the first one ``done`` accepts; fails after ``within`` s."""
    received: list[Message] = []
    async with asyncio.timeout(within):
        async for message in stream:
            received.append(message)
            if done(message):
                return received
    raise AssertionError(f"stream ended before the awaited message; got {received}")
