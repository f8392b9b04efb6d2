"""Task modules: loaded from settings or --tasks; a broken one stops start-up with exit 2.

What needs a fresh interpreter (importing ``jobs`` alone, the plain procrastinate CLI)
is in tests/integration/jobs/tasks/test_modules.py.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main as cli
from jobs.tasks.modules import TaskModuleError, load_task_modules
from jobs.tasks.registry import registry

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path where a test writes task modules of its own."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("byot_")]:
        del sys.modules[name]


def write(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def test_loading_a_module_registers_its_tasks(module_dir: Path) -> None:
    write(
        module_dir,
        "byot_images",
        """
        from pydantic import BaseModel
        from jobs import TaskContext, task

        class Resize(BaseModel):
            width: int

        @task(name="byot.images.resize", args=Resize, queue="byot-images")
        async def resize(ctx: TaskContext, args: Resize) -> int:
            return args.width
        """,
    )
    load_task_modules(["byot_images"])
    assert registry.get("byot.images.resize").queue == "byot-images"
    assert registry.declared_in("byot_images") == ["byot.images.resize"]


def test_a_module_that_fails_to_import_names_itself(module_dir: Path) -> None:
    write(module_dir, "byot_broken", "import numpy_that_is_not_installed\n")
    with pytest.raises(TaskModuleError) as raised:
        load_task_modules(["byot_broken"])
    assert str(raised.value) == (
        "task module 'byot_broken' could not be loaded: ModuleNotFoundError: "
        "No module named 'numpy_that_is_not_installed'"
    )


def test_a_bad_task_declaration_names_the_module(module_dir: Path) -> None:
    write(
        module_dir,
        "byot_badcron",
        """
        from pydantic import BaseModel
        from jobs import task

        @task(name="byot.bad", args=BaseModel, cron="every day")
        def bad(ctx, args): ...
        """,
    )
    with pytest.raises(TaskModuleError, match=r"'byot_badcron'.*InvalidJobOptions: cron:"):
        load_task_modules(["byot_badcron"])


@pytest.mark.parametrize("command", ["worker", "api", "dev"])
def test_cli_exits_2_naming_a_module_that_does_not_load(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([command, "--tasks", "byot_no_such_module"]) == 2
    assert capsys.readouterr().err == (
        "pgjobs: task module 'byot_no_such_module' could not be loaded: "
        "ModuleNotFoundError: No module named 'byot_no_such_module'\n"
    )
