"""The worker supervisor with real child processes: restarts, backoff, signals, no orphans.

Its backoff policy alone is tested in tests/unit/api/cli/test_supervisor.py.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.conditions import DEFAULT_TIMEOUT, wait_for
from harness.processes import ROOT, alive

#: Runs a Supervisor over the child given as arguments, with short delays (0.2, 0.4, 0.8 s).
DRIVER = """
import logging, os, sys
from api.cli.supervisor import Backoff, Supervisor
logging.basicConfig(level=logging.INFO, format="supervisor: %(message)s")
stop_timeout = float(os.environ["STOP_TIMEOUT"])
processes = int(os.environ.get("PROCESSES", "1"))
healthy_after = float(os.environ["HEALTHY_AFTER"])
backoff = Backoff(initial=0.2, factor=2, maximum=0.8, healthy_after=healthy_after)
sys.exit(
    Supervisor(
        sys.argv[1:], stop_timeout=stop_timeout, backoff=backoff, processes=processes,
        name="test",
    ).run()
)
"""

#: The supervisor's log line for a restart it scheduled: which worker, which restart, the delay.
RESTART = re.compile(
    r"worker (\S+) exited with status -?\d+ after [\d.]+ s; restart (\d+) in ([\d.]+) s"
)

#: A stand-in worker: logs "<event> <time> <pid> <name>" lines; MODE says how it behaves.
CHILD = """
import os, signal, sys, time
log = open(os.environ["CHILD_LOG"], "a", buffering=1)
name = os.environ["PROCRASTINATE_WORKER_NAME"]
def note(event):
    log.write(f"{event} {time.time()} {os.getpid()} {name}\\n")
mode = os.environ["MODE"]
# signal handlers before "start": a test signals as soon as it sees it
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "graceful":
    def stop(signum, frame):
        note("term")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
note("start")
if mode == "retires" and not os.path.exists(os.environ["CHILD_LOG"] + ".retired"):
    open(os.environ["CHILD_LOG"] + ".retired", "w").close()
    pipe = int(os.environ["PGJOBS_SUPERVISOR_FD"])
    os.write(pipe, f"retiring {os.getpid()} max jobs\\n".encode())
    time.sleep(float(os.environ["DRAIN_SECONDS"]))
    note("exit")
    sys.exit(0)
if mode == "crash":
    sys.exit(1)
if mode == "usage":
    sys.exit(2)
if mode == "runs-then-crashes":
    time.sleep(float(os.environ["RUN_SECONDS"]))
    note("exit")
    sys.exit(1)
while True:
    time.sleep(0.05)
"""


class Supervised:
    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "child.log"
        self.log.touch()
        self.supervisor_log = tmp_path / "supervisor.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self, mode: str, *, stop_timeout: float = 10.0, healthy_after: float = 60.0, **env: str
    ) -> None:
        """Run the supervisor over a stand-in in ``mode``. By default no run counts as healthy
        (however slowly a loaded machine starts Python), so delays only grow."""
        with self.supervisor_log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", DRIVER, sys.executable, "-c", CHILD],
                cwd=ROOT,
                env={
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "MODE": mode,
                    "CHILD_LOG": str(self.log),
                    "STOP_TIMEOUT": str(stop_timeout),
                    "HEALTHY_AFTER": str(healthy_after),
                    **env,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def restart_delays(self, name: str = "test#1") -> list[float]:
        """The delays the supervisor chose for worker ``name``, from its log, in order."""
        found = [
            (int(number), float(delay))
            for worker, number, delay in RESTART.findall(self.supervisor_log.read_text())
            if worker == name
        ]
        assert [number for number, _ in found] == list(range(1, len(found) + 1)), found
        return [delay for _, delay in found]

    def events(self, kind: str, name: str | None = None) -> list[tuple[float, int]]:
        lines = [line.split() for line in self.log.read_text().splitlines()]
        return [
            (float(at), int(pid))
            for event, at, pid, child in lines
            if event == kind and name in (None, child)
        ]

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, seconds: float = DEFAULT_TIMEOUT) -> int:
        assert self.process is not None
        return self.process.wait(timeout=seconds)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for _, pid in self.events("start"):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    running = Supervised(tmp_path)
    try:
        yield running
    finally:
        running.close()


def test_a_crashing_worker_is_restarted_with_growing_capped_delays(
    supervised: Supervised,
) -> None:
    supervised.start("crash")
    wait_for(lambda: len(supervised.events("start")) >= 5, what="5 starts")
    supervised.signal(signal.SIGTERM)
    # stopped while waiting to restart (0), or with a worker that exited (1) or got the SIGTERM
    assert supervised.wait() in (0, 1, 128 + signal.SIGTERM)
    restarts = len(supervised.events("start"))
    delays = supervised.restart_delays()
    assert delays[:4] == [0.2, 0.4, 0.8, 0.8]  # it grew, up to its cap
    assert set(delays[4:]) <= {0.8}
    starts = [at for at, _ in supervised.events("start")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # and each was waited: a gap is the delay plus a Python start-up (how long that takes is
    # the loaded machine's business, not asserted)
    for gap, delay in zip(gaps, delays, strict=False):
        assert delay <= gap, (gaps, delays)
    time.sleep(1.0)  # pacing: longer than the longest delay, so a restart would show
    assert len(supervised.events("start")) == restarts


def test_a_healthy_run_resets_the_backoff(supervised: Supervised) -> None:
    # each run lasts 1.6 s at least, longer than healthy_after, however loaded the machine
    supervised.start("runs-then-crashes", healthy_after=1.5, RUN_SECONDS="1.6")
    wait_for(lambda: len(supervised.events("start")) >= 4, what="4 starts")
    supervised.signal(signal.SIGTERM)
    supervised.wait()
    # every run outlived healthy_after: each restart waits the initial delay, never more
    delays = supervised.restart_delays()
    assert len(delays) >= 3
    assert set(delays) == {0.2}
    exits = [at for at, _ in supervised.events("exit")]
    starts = [at for at, _ in supervised.events("start")]
    for exited, restarted in zip(exits, starts[1:], strict=False):
        assert restarted - exited >= 0.2


def test_sigterm_is_forwarded_and_nothing_is_restarted(supervised: Supervised) -> None:
    supervised.start("graceful")
    wait_for(lambda: supervised.events("start"), what="the worker to start")
    supervised.signal(signal.SIGTERM)
    assert supervised.wait() == 0
    assert len(supervised.events("term")) == 1
    time.sleep(0.5)  # pacing: long enough for a (wrong) restart to show up
    assert len(supervised.events("start")) == 1


def test_sigint_is_forwarded_as_sigint(supervised: Supervised) -> None:
    supervised.start("sleep")
    wait_for(lambda: supervised.events("start"), what="the worker to start")
    ((_, pid),) = supervised.events("start")
    supervised.signal(signal.SIGINT)
    # the stand-in keeps Python's default SIGINT handling: it dies of the SIGINT
    assert supervised.wait() == 128 + signal.SIGINT
    assert not alive(pid)


def test_a_worker_ignoring_sigterm_is_killed_after_the_stop_timeout(
    supervised: Supervised,
) -> None:
    supervised.start("stubborn", stop_timeout=0.5)
    wait_for(lambda: supervised.events("start"), what="the worker to start")
    ((_, pid),) = supervised.events("start")
    started = time.monotonic()
    supervised.signal(signal.SIGTERM)
    assert supervised.wait() == 128 + signal.SIGKILL
    assert time.monotonic() - started >= 0.5  # it gave the worker its stop timeout first
    assert not alive(pid)


def test_a_usage_error_is_not_retried(supervised: Supervised) -> None:
    supervised.start("usage")
    assert supervised.wait() == 2
    assert len(supervised.events("start")) == 1


def test_the_worker_stops_when_the_supervisor_is_killed(supervised: Supervised) -> None:
    supervised.start("graceful")
    wait_for(lambda: supervised.events("start"), what="the worker to start")
    ((_, pid),) = supervised.events("start")
    supervised.signal(signal.SIGKILL)
    supervised.wait()
    wait_for(lambda: supervised.events("term"), what="the orphaned worker to get SIGTERM")
    wait_for(lambda: not alive(pid), what="the orphaned worker to exit")


def test_each_process_is_named_and_restarted_on_its_own(supervised: Supervised) -> None:
    supervised.start("runs-then-crashes", PROCESSES="2", RUN_SECONDS="0.1")
    wait_for(
        lambda: (
            len(supervised.events("start", "test#1")) >= 4
            and len(supervised.events("start", "test#2")) >= 4
        ),
        what="both slots restarted twice",
    )
    supervised.signal(signal.SIGTERM)
    supervised.wait()
    for name in ("test#1", "test#2"):
        # each slot has its own backoff: 0.1 s of run, then 0.2, 0.4, 0.8 ... of delay
        delays = supervised.restart_delays(name)
        assert delays[:3] == [0.2, 0.4, 0.8], (name, delays)
        starts = [at for at, _ in supervised.events("start", name)]
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        for gap, delay in zip(gaps, delays, strict=False):
            assert delay <= gap, (name, gaps, delays)


def test_sigterm_reaches_every_process(supervised: Supervised) -> None:
    supervised.start("graceful", PROCESSES="3")
    wait_for(lambda: len(supervised.events("start")) == 3, what="three workers")
    supervised.signal(signal.SIGTERM)
    assert supervised.wait() == 0
    assert sorted(pid for _, pid in supervised.events("term")) == sorted(
        pid for _, pid in supervised.events("start")
    )


def test_a_retiring_process_is_replaced_at_once_and_may_finish(supervised: Supervised) -> None:
    supervised.start("retires", DRAIN_SECONDS="2")
    wait_for(lambda: len(supervised.events("start")) == 2, what="the replacement to start")
    (first_start, first), (second_start, second) = supervised.events("start")
    assert second != first
    assert alive(first)  # the replacement runs while the retiring one drains
    ((retired_at, retired),) = wait_for(
        lambda: supervised.events("exit"), what="the retiring worker to exit"
    )
    assert retired == first
    assert first_start < second_start < retired_at  # replaced at once, not after it exited
    time.sleep(1.0)  # pacing: a (wrong) restart after the planned exit would show up
    assert len(supervised.events("start")) == 2
    supervised.signal(signal.SIGTERM)
    assert supervised.wait() == 128 + signal.SIGTERM  # "retires" mode keeps default SIGTERM
