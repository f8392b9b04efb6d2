"""The unit tier's guard (tests/unit/conftest.py) refuses every way of starting a process."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys

import pytest

Failed = pytest.fail.Exception


def test_subprocess_is_refused() -> None:
    with pytest.raises(Failed, match=r"unit tier starts no process \(subprocess\.Popen\)"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    with pytest.raises(Failed, match=r"subprocess\.Popen"):
        subprocess.check_output(["true"])


async def test_asyncio_subprocesses_are_refused() -> None:
    with pytest.raises(Failed, match=r"asyncio\.create_subprocess_exec"):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    with pytest.raises(Failed, match=r"asyncio\.create_subprocess_shell"):
        await asyncio.create_subprocess_shell("true")


def test_fork_spawn_and_system_are_refused() -> None:
    with pytest.raises(Failed, match=r"os\.fork"):
        os.fork()
    with pytest.raises(Failed, match=r"os\.system"):
        os.system("true")
    with pytest.raises(Failed, match=r"os\.(fork|posix_spawn)"):
        multiprocessing.get_context("fork").Process(target=print).start()


def _run_swallowing_exceptions() -> bool:
    """What careless code under test does: returns whether it swallowed an exception."""
    try:
        subprocess.run(["true"], check=False)
    except Exception:
        return True
    return False


def test_the_refusal_is_not_an_exception_code_under_test_could_swallow() -> None:
    with pytest.raises(Failed):
        _run_swallowing_exceptions()
