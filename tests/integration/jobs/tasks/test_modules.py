"""Task modules in fresh interpreters: importing ``jobs`` registers nothing, and the plain
procrastinate CLI loads ``PGJOBS_TASK_MODULES`` (exit 2 naming a module that does not load).
"""

from __future__ import annotations

import os
import subprocess
import sys

from harness.processes import ROOT


def test_importing_jobs_registers_nothing() -> None:
    code = "import jobs; from jobs import task, enqueue, TaskContext; "
    code += "from jobs.tasks.registry import registry; print(len(registry))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "0"


def _run(*command: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_")}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        list(command),
        cwd=ROOT,
        env={**clean, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_plain_procrastinate_cli_honours_the_variable_and_exits_2() -> None:
    done = _run(
        sys.executable, "-m", "procrastinate", "--app=jobs.app", "worker",
        PGJOBS_TASK_MODULES="byot_no_such_module",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "task module 'byot_no_such_module' could not be loaded" in done.stderr
    assert "Traceback" not in done.stderr
