"""A steady stream of ``POST /jobs`` of the recorded task, from a thread; every answer kept."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import httpx

from harness.faults import TASK


@dataclass(frozen=True)
class Submission:
    at: float
    status: int | None  # None: no answer (connection refused, timeout)
    job_id: int | None


class Load:
    """A steady stream of ``POST /jobs`` from a thread; every answer is kept."""

    def __init__(self, base_url: str, rate: float, seconds: tuple[float, float]) -> None:
        self.base_url = base_url
        self.rate = rate
        self.seconds = seconds
        self.submissions: list[Submission] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while not self._stop.is_set():
                body = {"task": TASK, "args": {"seconds": round(random.uniform(*self.seconds), 3)}}
                at = time.time()
                try:
                    response = client.post("/jobs", json=body)
                    job_id = response.json().get("id") if response.status_code == 201 else None
                    self.submissions.append(Submission(at, response.status_code, job_id))
                except httpx.HTTPError:
                    self.submissions.append(Submission(at, None, None))
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def accepted_after(self, moment: float) -> list[Submission]:
        """Requests sent after ``moment`` that got a 201."""
        return [s for s in self.submissions if s.at > moment and s.status == 201]

    @property
    def accepted(self) -> list[int]:
        return [s.job_id for s in self.submissions if s.status == 201 and s.job_id is not None]
