"""Fixtures of the fault suite: a Postgres of its own (never the shared server), a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.faults.cluster import Cluster, stop_embedded
from harness.postgres import PostgresServer, create_template, scratch_directory, start_embedded


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_server() -> Iterator[PostgresServer]:
    """An embedded server the fault tests may restart and stop at will (never a shared one)."""
    with scratch_directory("pgjobs-faults-") as scratch:
        server = start_embedded(scratch)
        try:
            yield server
        finally:
            stop_embedded(server)


@pytest.fixture(scope="session")
def fault_template(fault_server: PostgresServer) -> str:
    return create_template(fault_server)


@pytest.fixture
def cluster(fault_server: PostgresServer, fault_template: str, tmp_path: Path) -> Iterator[Cluster]:
    name = fault_server.create_database(template=fault_template)
    running = Cluster(server=fault_server, database=name, log_dir=tmp_path)
    running.prepare()
    try:
        yield running
    finally:
        running.close()
        running.ensure_postgres_running()
        fault_server.drop_database(name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, append the cluster's process logs to the report."""
    outcome: Any = yield
    report = outcome.get_result()
    cluster = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(cluster, Cluster):
        report.sections.append(("cluster logs", cluster.logs()))
