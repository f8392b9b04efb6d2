"""An app served by a real uvicorn server inside the test's event loop (and test settings).

httpx's ASGI transport buffers whole responses, so endless ones (live event
streams) need a real HTTP server; running it in-process keeps the test's own
event loop, database fixtures and in-process workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.observability import Observability
from harness.conditions import DEFAULT_TIMEOUT
from jobs.settings import Settings


@dataclass(frozen=True)
class LiveServer:
    app: FastAPI
    url: str

    @property
    def observability(self) -> Observability:
        found: Observability = self.app.state.observability
        return found


def uncached(settings: Settings) -> Settings:
    """Settings whose figures are read from the database at every request (exact tests)."""
    return settings.model_copy(
        update={"metrics_cache_seconds": 0, "metrics_totals_cache_seconds": 0}
    )


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, log_level="warning", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # raises what made the server fail to start
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield LiveServer(app=app, url=f"http://127.0.0.1:{port}")
    finally:
        if server.started:
            # What SIGTERM does in production: end the live streams, then stop the server.
            app.state.observability.hub.close()
        server.should_exit = True
        await task
