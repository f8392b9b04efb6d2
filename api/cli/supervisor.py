"""``pgjobs worker``: the procrastinate worker as a child process, restarted when it dies.

A procrastinate worker reconnects what it can in-process (its pool replaces
dead connections, its LISTEN connection reconnects), but any database error in
its main loop, a failed heartbeat, or a job status it could not save ends the
process. The supervisor starts it again, after a delay that doubles with each
quick failure (capped) and starts over once a worker has run long enough to
count as healthy, so a Postgres restart costs a few seconds and a database
that stays down is retried calmly rather than hammered.

Signals: SIGTERM or SIGINT is forwarded once to the worker, which stops taking
jobs and gives running ones its grace period (``PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS``);
the supervisor then exits with the worker. A second signal is forwarded too
(procrastinate then stops at once); past ``stop_timeout`` the worker is killed
(its running jobs are then rescued elsewhere). The worker runs in its own
process group, so a terminal's Ctrl-C reaches it once, through the supervisor,
and on Linux it is told to stop if the supervisor itself dies.
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
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger("pgjobs.supervisor")

#: Exit status of a child that must not be restarted: a usage or settings error.
USAGE_ERROR = 2
#: How often the supervisor looks at its child and at the clock.
POLL_SECONDS = 0.1
#: After a stop signal, the worker is killed this long after its grace period ends
#: (it aborts its jobs at the end of the grace period; this covers the aborting).
STOP_MARGIN_SECONDS = 15.0


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


class Supervisor:
    """Run ``command`` until a stop signal, restarting it with :class:`Backoff` when it exits."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        stop_timeout: float,
        backoff: Backoff = Backoff(),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = list(command)
        self.stop_timeout = stop_timeout
        self.backoff = backoff
        self.env = dict(env) if env is not None else None
        self._child: subprocess.Popen[bytes] | None = None
        self._stop_requested_at: float | None = None
        self._killed = False

    def run(self) -> int:
        """Supervise until stopped; returns the exit status for the ``pgjobs`` command."""
        stop_signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in stop_signals}
        try:
            return self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._reap()

    def _loop(self) -> int:
        delay: float | None = None
        restarts = 0
        while True:
            started = time.monotonic()
            self._child = self._start()
            logger.info("worker started (pid %s)", self._child.pid)
            if self._stop_requested_at is not None:  # the signal came as we started it
                self._child.send_signal(signal.SIGTERM)
            status = self._wait()
            uptime = time.monotonic() - started
            if self._stop_requested_at is not None:
                logger.info("worker stopped (status %s)", status)
                return _exit_status(status)
            if status == USAGE_ERROR:
                logger.error("worker refused to start (status %s): not restarting it", status)
                return USAGE_ERROR
            delay = self.backoff.next_delay(delay, uptime)
            restarts += 1
            logger.warning(
                "worker exited with status %s after %.1f s; restart %s in %.1f s",
                status,
                uptime,
                restarts,
                delay,
            )
            if not self._pause(delay):
                return 0

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command,
            env=self.env,
            start_new_session=True,  # terminal signals reach it once: through us
            preexec_fn=_stop_with_parent(os.getpid()),
        )

    def _wait(self) -> int:
        assert self._child is not None
        while True:
            try:
                return self._child.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                self._escalate()

    def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless a stop arrives first; False when stopped."""
        deadline = time.monotonic() + seconds
        while self._stop_requested_at is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            time.sleep(min(POLL_SECONDS, remaining))
        logger.info("stop requested while waiting to restart the worker")
        return False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
            logger.info("%s: stopping the worker gracefully", signal.Signals(signum).name)
        else:
            logger.warning("%s again: the worker stops at once", signal.Signals(signum).name)
        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(signum)

    def _escalate(self) -> None:
        if self._stop_requested_at is None or self._killed:
            return
        if time.monotonic() - self._stop_requested_at < self.stop_timeout:
            return
        assert self._child is not None
        logger.error(
            "worker still running %.0f s after the stop request: killing it "
            "(its running jobs will be rescued)",
            self.stop_timeout,
        )
        self._child.kill()
        self._killed = True

    def _reap(self) -> None:
        """Never leave a child behind, whatever ended the loop."""
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait()


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
