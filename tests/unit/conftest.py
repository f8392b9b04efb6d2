"""The unit tier starts no process: a test that tries fails, naming the tier it belongs in.

Unit tests are the fast, machine-independent tier (no database, no child process),
so they stay quick and exact when the machine is loaded. Everything that spawns
goes through ``subprocess.Popen`` (``subprocess.run`` too),
``asyncio.create_subprocess_*``, ``os.fork`` / ``os.posix_spawn*``
(``multiprocessing``) or ``os.system``: each is replaced for the duration of every
unit test. The failure is raised as pytest's own outcome, which ``except
Exception`` in the code under test cannot swallow. (Imports from the other tiers
are refused by import-linter.)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from typing import NoReturn

import pytest

_MESSAGE = (
    "the unit tier starts no process ({what}): move this test to tests/integration "
    "(real collaborators: Postgres, child processes) or tests/acceptance (the deployed processes)"
)


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        pytest.fail(_MESSAGE.format(what=what))

    return refuse


@pytest.fixture(autouse=True)
def _no_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _refuse("subprocess.Popen"))
    for name in ("create_subprocess_exec", "create_subprocess_shell"):
        monkeypatch.setattr(asyncio, name, _refuse(f"asyncio.{name}"))
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refuse(f"os.{name}"))
