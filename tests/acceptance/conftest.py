from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.stack import Stack


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(database_url=database_url, log_dir=tmp_path)
    try:
        yield running
    finally:
        running.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, append the processes' logs to the report."""
    outcome: Any = yield
    report = outcome.get_result()
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(stack, Stack):
        report.sections.append(("process logs", stack.logs()))
