"""``pgjobs worker``: N procrastinate workers as child processes, each restarted on its own.

A procrastinate worker reconnects what it can in-process (its pool replaces
dead connections, its LISTEN connection reconnects), but any database error in
its main loop, a failed heartbeat, or a job status it could not save ends the
process. The supervisor starts it again, after a delay that doubles with each
quick failure of that process (capped) and starts over once it has run long
enough to count as healthy, so a Postgres restart costs a few seconds and a
database that stays down is retried calmly rather than hammered.

``processes`` children run side by side (``pgjobs worker --processes N``: for
CPU-bound sync tasks that one Python process cannot parallelise), each in a
*slot* with its own backoff, named ``<name>#<slot>`` through
``PROCRASTINATE_WORKER_NAME`` so the workers page and ``/metrics`` tell them apart.

Recycling: a child that decided to retire (``--max-jobs-per-process``,
``--max-memory-per-process``: :mod:`jobs.worker.recycling`) says so on the
pipe whose descriptor it finds in ``PGJOBS_SUPERVISOR_FD``, then stops claiming
jobs and finishes the ones it runs. Its slot gets a fresh process at once, with
no backoff, so jobs keep flowing while the old one drains; the old one's clean
exit is expected and not counted as a failure.

Signals: SIGTERM or SIGINT is forwarded once to every child (draining ones
included), which stop taking jobs and give running ones their grace period
(``PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS``); the supervisor exits when all have.
A second signal is forwarded too (procrastinate then stops at once); past
``stop_timeout`` the remaining children are killed (their running jobs are then
rescued elsewhere). Children run in their own process groups, so a terminal's
Ctrl-C reaches them once, through the supervisor, and on Linux they are told to
stop if the supervisor itself dies.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

logger = logging.getLogger("pgjobs.supervisor")

#: Exit status of a child that must not be restarted: a usage or settings error.
USAGE_ERROR = 2
#: How often the supervisor looks at its children, its pipe and the clock.
POLL_SECONDS = 0.1
#: After a stop signal, workers are killed this long after their grace period ends
#: (they abort their jobs at the end of the grace period; this covers the aborting).
STOP_MARGIN_SECONDS = 15.0
#: The environment variable naming each child (procrastinate's own ``--name`` variable).
NAME_VARIABLE = "PROCRASTINATE_WORKER_NAME"
#: The environment variable carrying the write end of the supervisor's pipe.
PIPE_VARIABLE = "PGJOBS_SUPERVISOR_FD"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Restart delays: ``initial``, times ``factor`` per quick failure, at most ``maximum``."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    #: A child that ran this long was healthy: the next delay is ``initial`` again.
    healthy_after: float = 60.0

    def next_delay(self, previous: float | None, uptime: float) -> float:
        """The delay before the next start, given the previous delay and the child's uptime."""
        if previous is None or uptime >= self.healthy_after:
            return self.initial
        return min(previous * self.factor, self.maximum)


@dataclass(eq=False)
class _Slot:
    """One of the N places a worker process runs in, with its own restart history."""

    number: int
    name: str
    child: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float | None = None
    restart_at: float | None = None
    restarts: int = 0
    #: Children of this slot that announced their retirement and are finishing their jobs.
    retiring: list[subprocess.Popen[bytes]] = field(default_factory=list)


class Supervisor:
    """Run ``processes`` copies of ``command`` until a stop signal, restarting each that exits."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        stop_timeout: float,
        backoff: Backoff = Backoff(),
        env: Mapping[str, str] | None = None,
        processes: int = 1,
        name: str | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.command = list(command)
        self.stop_timeout = stop_timeout
        self.backoff = backoff
        self.env = dict(env) if env is not None else dict(os.environ)
        base = name or f"{os.uname().nodename}:{os.getpid()}"
        self._slots = [_Slot(number, f"{base}#{number}") for number in range(1, processes + 1)]
        self._stop_requested_at: float | None = None
        self._killed = False
        self._pipe_read: int | None = None
        self._pipe_write: int | None = None
        self._pipe_buffer = b""

    def run(self) -> int:
        """Supervise until stopped; returns the exit status for the ``pgjobs`` command."""
        stop_signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in stop_signals}
        self._pipe_read, self._pipe_write = os.pipe()
        os.set_blocking(self._pipe_read, False)
        try:
            return self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._reap()
            os.close(self._pipe_read)
            os.close(self._pipe_write)

    # -- the loop ------------------------------------------------------------------

    def _loop(self) -> int:
        for slot in self._slots:
            if not self._stopping:
                self._start(slot)
        statuses: list[int] = []
        while True:
            self._read_pipe()
            now = time.monotonic()
            for slot in self._slots:
                status = self._check(slot, now)
                if status is not None:
                    statuses.append(status)
                    if status == USAGE_ERROR and self._stop_requested_at is None:
                        logger.error(
                            "worker %s refused to start (status %s): stopping, not restarting",
                            slot.name,
                            status,
                        )
                        self._request_stop(signal.SIGTERM)
            if self._stop_requested_at is not None:
                if self._all_reaped():  # every exit status is in ``statuses``
                    return self._final_status(statuses)
                self._escalate(now)
            time.sleep(POLL_SECONDS)

    def _check(self, slot: _Slot, now: float) -> int | None:
        """Look after one slot; returns the exit status of its child if it just exited."""
        slot.retiring = [child for child in slot.retiring if not self._reaped(slot, child)]
        if slot.child is None:
            if slot.restart_at is not None and now >= slot.restart_at and not self._stopping:
                self._start(slot)
            return None
        status = slot.child.poll()
        if status is None:
            return None
        slot.child = None
        uptime = now - slot.started
        if self._stopping:
            logger.info("worker %s stopped (status %s)", slot.name, status)
            return status
        if status == USAGE_ERROR:
            return status
        slot.delay = self.backoff.next_delay(slot.delay, uptime)
        slot.restart_at = now + slot.delay
        slot.restarts += 1
        logger.warning(
            "worker %s exited with status %s after %.1f s; restart %s in %.1f s",
            slot.name,
            status,
            uptime,
            slot.restarts,
            slot.delay,
        )
        return None

    def _reaped(self, slot: _Slot, child: subprocess.Popen[bytes]) -> bool:
        status = child.poll()
        if status is None:
            return False
        level = logging.INFO if status == 0 or self._stopping else logging.WARNING
        logger.log(
            level, "retired worker %s (pid %s) exited (status %s)", slot.name, child.pid, status
        )
        return True

    def _start(self, slot: _Slot) -> None:
        assert self._pipe_write is not None
        env = {**self.env, NAME_VARIABLE: slot.name, PIPE_VARIABLE: str(self._pipe_write)}
        slot.child = subprocess.Popen(
            self.command,
            env=env,
            pass_fds=(self._pipe_write,),
            start_new_session=True,  # terminal signals reach it once: through us
            preexec_fn=_stop_with_parent(os.getpid()),
        )
        slot.started = time.monotonic()
        slot.restart_at = None
        logger.info("worker %s started (pid %s)", slot.name, slot.child.pid)

    def _read_pipe(self) -> None:
        """Handle the children's announcements: ``retiring <pid> <reason>`` lines."""
        assert self._pipe_read is not None
        while True:
            try:
                chunk = os.read(self._pipe_read, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._pipe_buffer += chunk
        *lines, self._pipe_buffer = self._pipe_buffer.split(b"\n")
        for line in lines:
            kind, _, rest = line.decode(errors="replace").partition(" ")
            pid_text, _, reason = rest.partition(" ")
            if kind == "retiring" and pid_text.isdigit():
                self._replace(int(pid_text), reason)

    def _replace(self, pid: int, reason: str) -> None:
        for slot in self._slots:
            if slot.child is not None and slot.child.pid == pid:
                logger.info(
                    "worker %s (pid %s) is recycling (%s): starting its replacement",
                    slot.name,
                    pid,
                    reason or "no reason given",
                )
                slot.retiring.append(slot.child)
                slot.child = None
                slot.delay = None  # a planned exit is no failure: no backoff
                if not self._stopping:
                    self._start(slot)
                return

    # -- stopping ------------------------------------------------------------------

    @property
    def _stopping(self) -> bool:
        return self._stop_requested_at is not None

    def _children(self) -> list[subprocess.Popen[bytes]]:
        found = [slot.child for slot in self._slots if slot.child is not None]
        return found + [child for slot in self._slots for child in slot.retiring]

    def _all_reaped(self) -> bool:
        """No child left: each slot's exit was seen by :meth:`_check`, each retiree's reaped."""
        return all(slot.child is None and not slot.retiring for slot in self._slots)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_requested_at is None:
            logger.info("%s: stopping the workers gracefully", signal.Signals(signum).name)
        else:
            logger.warning("%s again: the workers stop at once", signal.Signals(signum).name)
        self._request_stop(signum)

    def _request_stop(self, signum: int) -> None:
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        for child in self._children():
            if child.poll() is None:
                child.send_signal(signum)

    def _escalate(self, now: float) -> None:
        if self._stop_requested_at is None or self._killed:
            return
        if now - self._stop_requested_at < self.stop_timeout:
            return
        stubborn = [child for child in self._children() if child.poll() is None]
        if stubborn:
            logger.error(
                "%s worker(s) still running %.0f s after the stop request: killing them "
                "(their running jobs will be rescued)",
                len(stubborn),
                self.stop_timeout,
            )
        for child in stubborn:
            child.kill()
        self._killed = True

    @staticmethod
    def _final_status(statuses: list[int]) -> int:
        """0 when every child stopped cleanly, else the first failure, as a shell reports it."""
        failures = [status for status in statuses if status != 0]
        return _exit_status(failures[0]) if failures else 0

    def _reap(self) -> None:
        """Never leave a child behind, whatever ended the loop."""
        for child in self._children():
            if child.poll() is None:
                child.kill()
                child.wait()


def _exit_status(status: int) -> int:
    """A child's wait status as a shell would report it (128 + signal when killed)."""
    return 128 - status if status < 0 else status


def _stop_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A pre-exec hook: the child gets SIGTERM if the supervisor dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here, not between fork and exec
    pr_set_pdeathsig = 1

    def hook() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the supervisor died before the call above
            os.kill(os.getpid(), signal.SIGTERM)

    return hook
