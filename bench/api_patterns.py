"""The two create endpoints ``bench/api_create.py`` measures pgjobs' ``POST /jobs`` against.

Both are what the seed teams write today, in one uvicorn process like the API:

* ``seed``: FastAPI validates the body, inserts the application's row and
  commits, then hands the job to Celery (``.delay()``: a push to Redis), the
  pattern the teams migrating from Celery run (and the job is lost if the process
  dies between the commit and the push);
* ``procrastinate``: FastAPI inserts the row and defers the job with
  procrastinate on the same connection, in one transaction.

Run with ``uvicorn --factory bench.api_patterns:seed_app`` (or
``procrastinate_app``) and ``DATABASE_URL`` set; the seed app needs the bench
dependency group (Celery) and Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import procrastinate
from fastapi import FastAPI
from procrastinate.psycopg_connector import PsycopgConnector
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

#: The application's own table, the row each request writes beside its job.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_requests (
    id bigserial PRIMARY KEY,
    task text NOT NULL,
    args jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO bench_requests (task, args) VALUES (%s, %s) RETURNING id, created_at"
REDIS_URL = "redis://127.0.0.1:6379/15"


class CreateRequest(BaseModel):
    task: str
    args: dict[str, Any] = {}


class Created(BaseModel):
    id: int
    status: str


def _pool() -> AsyncConnectionPool[Any]:
    return AsyncConnectionPool(
        os.environ["DATABASE_URL"], min_size=4, max_size=20, open=False, kwargs={"autocommit": True}
    )


def seed_app() -> FastAPI:
    from celery import Celery

    celery = Celery("bench", broker=REDIS_URL)
    celery.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
    pool = _pool()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with pool:
            async with pool.connection() as conn:
                await conn.execute(CREATE_TABLE)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/jobs", status_code=201)
    async def create(body: CreateRequest) -> Created:
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(INSERT, [body.task, Jsonb(body.args)])
            row = await cursor.fetchone()
        assert row is not None
        # after the commit: the job exists only once Redis has it
        celery.send_task("bench.noop", kwargs={"request_id": row[0]})
        return Created(id=row[0], status="queued")

    return app


def procrastinate_app() -> FastAPI:
    pool = _pool()
    queue = procrastinate.App(connector=PsycopgConnector())

    @queue.task(name="bench.noop")
    async def noop(request_id: int) -> None:
        return None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with pool, queue.open_async(pool):
            async with pool.connection() as conn:
                await conn.execute(CREATE_TABLE)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/jobs", status_code=201)
    async def create(body: CreateRequest) -> Created:
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(INSERT, [body.task, Jsonb(body.args)])
            row = await cursor.fetchone()
            assert row is not None
            await noop.configure(connection=conn).defer_async(request_id=row[0])
        return Created(id=row[0], status="queued")

    return app
