"""Fixtures shared by all tiers: a real Postgres, one fresh migrated database per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

import jobs.examples  # noqa: F401  (the demo tasks most tests use, as `pgjobs dev` loads them)
from api.app import create_app
from harness.postgres import (
    PostgresServer,
    create_template,
    find_or_start_server,
    scratch_directory,
)
from jobs.settings import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build Settings explicitly: nothing leaks in from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("PGJOBS_") and name != "PGJOBS_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with scratch_directory("pgjobs-tests-") as scratch:
        server = find_or_start_server(scratch)
        yield server
        if server.embedded is not None:
            server.embedded.stop()


@pytest.fixture(scope="session")
def template_database(postgres_server: PostgresServer) -> Iterator[str]:
    name = create_template(postgres_server)
    yield name
    postgres_server.drop_database(name)


@pytest.fixture
def database_url(postgres_server: PostgresServer, template_database: str) -> Iterator[str]:
    """A fresh database at alembic head, dropped after the test."""
    name = postgres_server.create_database(template=template_database)
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
def empty_database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        environment="test",
        pool_min_size=1,
        pool_max_size=5,
        pool_timeout=5.0,
        data_dir=tmp_path,
        task_modules=("jobs.examples",),
    )


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[object]]:
    """An autocommit connection for arranging and asserting, separate from the app's pool."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pgjobs.test") as http:
        yield http
