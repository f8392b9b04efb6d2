"""What happened to every accepted job, judged from the recorded executions."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

FINAL = frozenset({"succeeded", "failed", "cancelled", "aborted"})


@dataclass(frozen=True)
class Execution:
    job_id: int
    attempt: int
    pid: int
    started: float
    finished: float | None


@dataclass(frozen=True)
class Kill:
    pid: int
    at: float
    job_ids: tuple[int, ...]


@dataclass
class Verdict:
    """What happened to every job accepted with 201, judged from the recorded executions."""

    accepted: list[int]
    statuses: dict[int, str]
    executions: dict[int, list[Execution]]
    lost_attempts: dict[int, int]
    shutdown_requeues: dict[int, int]
    kills: list[Kill]
    #: pid -> an upper bound of when that worker process exited (inf: still running)
    process_ends: dict[int, float]

    @property
    def missing(self) -> list[int]:
        return [job for job in self.accepted if job not in self.statuses]

    @property
    def not_final(self) -> dict[int, str]:
        return {
            job: status
            for job in self.accepted
            if (status := self.statuses.get(job, "missing")) not in FINAL
        }

    @property
    def finished(self) -> list[int]:
        return [job for job in self.accepted if self.statuses.get(job) in FINAL]

    @property
    def not_succeeded(self) -> dict[int, str]:
        return {
            job: self.statuses.get(job, "missing")
            for job in self.accepted
            if self.statuses.get(job) != "succeeded"
        }

    @property
    def duplicated(self) -> list[int]:
        return [job for job in self.accepted if len(self.executions.get(job, [])) > 1]

    @property
    def unexplained_duplicates(self) -> list[int]:
        """Jobs that ran more often than one run plus one per rescue or shutdown requeue."""
        return [
            job
            for job in self.duplicated
            if len(self.executions[job]) - 1
            > self.lost_attempts.get(job, 0) + self.shutdown_requeues.get(job, 0)
        ]

    @property
    def killed_jobs(self) -> set[int]:
        return {job for kill in self.kills for job in kill.job_ids}

    def _end(self, run: Execution) -> float:
        if run.finished is not None:
            return run.finished
        return self.process_ends.get(run.pid, float("inf"))  # it ended with its process

    @property
    def concurrent(self) -> list[int]:
        """Jobs two executions of which overlapped in time (on any workers)."""
        overlapping = []
        for job, runs in self.executions.items():
            ordered = sorted(runs, key=lambda run: run.started)
            if any(self._end(a) > b.started for a, b in itertools.pairwise(ordered)):
                overlapping.append(job)
        return overlapping

    @property
    def vanished_runs(self) -> list[Execution]:
        """Executions that never recorded their end although their process still runs."""
        return [
            run
            for runs in self.executions.values()
            for run in runs
            if run.finished is None and self._end(run) == float("inf")
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "finished": len(self.finished),
            "missing": self.missing[:20],
            "not_final": dict(list(self.not_final.items())[:20]),
            "not_succeeded": dict(list(self.not_succeeded.items())[:20]),
            "duplicated": self.duplicated[:20],
            "unexplained_duplicates": self.unexplained_duplicates[:20],
            "concurrent": self.concurrent[:20],
            "vanished_runs": [dataclasses.asdict(run) for run in self.vanished_runs[:5]],
            "kills": len(self.kills),
        }

    def assert_sound(self) -> None:
        """Nothing lost or unfinished, nothing run twice at once, every re-run explained."""
        summary = self.summary()
        assert not self.missing, summary
        assert not self.not_final, summary
        assert not self.concurrent, summary
        assert not self.vanished_runs, summary
        assert not self.unexplained_duplicates, summary
