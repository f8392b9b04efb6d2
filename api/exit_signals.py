"""Let live streams end as soon as the server is asked to stop.

On SIGTERM/SIGINT uvicorn stops accepting connections and then waits for the
open ones to finish before it runs the app's lifespan shutdown. A live event
stream never finishes by itself, so without help the server would wait
forever (or until its graceful-shutdown timeout). The app cannot see that
wait begin, but it can see the signal: :func:`on_exit_signals` chains a
callback before the server's own handler, and the callback ends the streams.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_exit_signals(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` on the running loop when an exit signal arrives; returns an undo.

    Only signals already handled by Python code (the server's handlers) are
    chained, so the default behaviour of a process without such a handler is
    left exactly as it was. Signals can only be handled in the main thread: in
    any other thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed: dict[signal.Signals, tuple[Callable[[int, FrameType | None], object], object]] = {}

    for signum in EXIT_SIGNALS:
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(
            number: int,
            frame: FrameType | None,
            previous: Callable[[int, FrameType | None], object] = previous,
        ) -> None:
            loop.call_soon_threadsafe(callback)
            previous(number, frame)

        signal.signal(signum, handler)
        installed[signum] = (handler, previous)

    def undo() -> None:
        for signum, (handler, previous) in installed.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, previous)  # type: ignore[arg-type]

    return undo
