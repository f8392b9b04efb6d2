"""A ``text/event-stream`` response that ends when it should.

Starlette's StreamingResponse notices a client that went away only when it
next writes, and waits as long as it takes for a client that stops reading.
A live stream idles for long stretches and must never pin a subscription (or
its task) to a dead or stalled client, so this response:

* watches for ``http.disconnect`` while it waits for events, and stops at once;
* gives every write ``send_timeout`` seconds, then drops the connection (a
  client that does not read is not worth a task and a queue);
* writes a comment line after ``keepalive`` idle seconds, so proxies keep the
  connection open and a dead peer is eventually detected by TCP;
* ends cleanly when the hub ends the subscription (shutdown, or the client
  fell behind: ``retry`` tells it to come back after ``retry_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from jobs.live.hub import SubscriptionEnded
from jobs.live.stream import LiveStream, StreamItem

logger = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"


def encode(batch: list[StreamItem] | None) -> bytes:
    """SSE messages (or a keep-alive comment for None), as one chunk."""
    if batch is None:
        return b": keep-alive\n\n"
    return b"".join(_message(item) for item in batch)


def _message(item: StreamItem) -> bytes:
    lines = []
    if item.id is not None:
        lines.append(f"id: {item.id}")
    if item.event is not None:
        lines.append(f"event: {item.event}")
    lines.append(f"data: {item.data}")  # compact JSON: never a newline inside
    return ("\n".join(lines) + "\n\n").encode()


class EventStreamResponse(Response):
    media_type = MEDIA_TYPE

    def __init__(
        self,
        stream: LiveStream,
        *,
        keepalive: float = 15.0,
        retry_ms: int = 2000,
        send_timeout: float = 30.0,
        status_code: int = 200,  # FastAPI reads this default to document the route
    ) -> None:
        self._stream_source = stream
        self._keepalive = keepalive
        self._retry_ms = retry_ms
        self._send_timeout = send_timeout
        self.status_code = status_code
        self.background = None
        self.init_headers(
            {
                "cache-control": "no-cache",
                "x-accel-buffering": "no",  # nginx: do not buffer the stream
                "content-type": MEDIA_TYPE + "; charset=utf-8",
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.create_task(self._stream(send), name="pgjobs-sse-stream")
        disconnected = asyncio.create_task(self._wait_disconnect(receive), name="pgjobs-sse-recv")
        try:
            await asyncio.wait({streaming, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, disconnected):
                task.cancel()
            for task in (streaming, disconnected):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._stream_source.close()

    async def _wait_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            await self._write(send, f"retry: {self._retry_ms}\n\n".encode())
            async with contextlib.aclosing(self._stream_source.items(self._keepalive)) as items:
                async for batch in items:
                    await self._write(send, encode(batch))
        except SubscriptionEnded as ended:
            logger.debug("live stream ended: %s", ended)
        except TimeoutError:
            logger.info("live stream dropped: the client read nothing for %ss", self._send_timeout)
            return  # no clean end: the server closes the connection
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write(self, send: Send, chunk: bytes) -> None:
        async with asyncio.timeout(self._send_timeout):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
