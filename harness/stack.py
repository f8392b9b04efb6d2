"""A deployment in processes: ``uvicorn`` serving the API, ``procrastinate`` workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.conditions import DEFAULT_TIMEOUT, wait_for
from harness.processes import ROOT, free_port


@dataclass
class Stack:
    """An API process and worker processes on one database; stopped with ``close``."""

    database_url: str
    log_dir: Path
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PGJOBS_")}
        env.update(DATABASE_URL=self.database_url, PYTHONPATH=str(ROOT))
        env.update({"PGJOBS_TASK_MODULES": "jobs.examples", **extra})
        return env

    def _spawn(self, command: Sequence[str], log_name: str, **env: str) -> subprocess.Popen[bytes]:
        # The child keeps its own copy of the descriptor; ours is closed at once.
        with (self.log_dir / log_name).open("ab") as log:
            return subprocess.Popen(
                list(command), cwd=ROOT, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT
            )

    def start_api(self, **env: str) -> None:
        self.api = self._spawn(
            [
                sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_environment",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            ],
            "api.log",
            **env,
        )  # fmt: skip
        wait_for(self._api_up, what="the API to answer /health")

    def _api_up(self) -> bool:
        try:
            return httpx.get(self.base_url + "/health", timeout=5).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def start_worker(
        self, *args: str, app: str = "jobs.app", **env: str
    ) -> subprocess.Popen[bytes]:
        index = len(self.workers)
        worker = self._spawn(
            [sys.executable, "-m", "procrastinate", f"--app={app}", "worker", *args],
            f"worker-{index}.log",
            **env,
        )
        self.workers.append(worker)
        return worker

    def start_process(self, command: Sequence[str], log_name: str, **env: str) -> None:
        """Any other long-running process of the test (stopped by ``close`` like workers)."""
        self.workers.append(self._spawn(command, log_name, **env))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=DEFAULT_TIMEOUT)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )

    def close(self) -> None:
        processes = [p for p in [self.api, *self.workers] if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
