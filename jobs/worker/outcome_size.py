"""Size limits on what an attempt stores: its JSON result and its error text.

A task that returns a 200 MB video, or an exception whose message holds a whole
HTTP response, would bloat ``pgjobs_jobs`` (and every page, stream and backup
that reads it) without anyone deciding to. The worker refuses that:

* a result whose JSON is larger than ``PGJOBS_MAX_RESULT_BYTES`` (1 MiB) fails the
  attempt with :class:`~jobs.errors.ResultTooLarge`, whose message says how
  large it was and what to do instead (store the artifact elsewhere, return its
  location). The task's retry policy never retries it: it would return the same.
* an error message or traceback larger than ``PGJOBS_MAX_ERROR_BYTES`` (64 KiB) is
  stored cut, with a note saying how much was cut: the start of a message, the
  end of a traceback (where the failing frame is).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobs.errors import ResultTooLarge
from jobs.settings import Settings


@dataclass(frozen=True, slots=True)
class OutcomeLimits:
    max_result_bytes: int
    max_error_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> OutcomeLimits:
        return cls(settings.max_result_bytes, settings.max_error_bytes)

    def check_result(self, result: Any) -> None:
        """Raise :class:`ResultTooLarge` when ``result`` (JSON-ready) is over the limit, and
        ValueError when Postgres would refuse it (NaN, infinity): the attempt fails, not the
        batch of completions it would be written with (jobs/worker/completer.py)."""
        if result is None:
            return
        size = len(
            json.dumps(result, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        )
        if size > self.max_result_bytes:
            raise ResultTooLarge(size, self.max_result_bytes)

    def cut_message(self, text: str) -> str:
        """The start of ``text``, at most ``max_error_bytes`` of UTF-8, with a note if cut."""
        return _cut(text, self.max_error_bytes, keep="start")

    def cut_traceback(self, text: str) -> str:
        """The end of ``text`` (the failing frame), at most ``max_error_bytes``, noted if cut."""
        return _cut(text, self.max_error_bytes, keep="end")


def _cut(text: str, limit: int, *, keep: str) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    note = (
        f"[pgjobs: {len(encoded) - limit} of {len(encoded)} bytes cut here: "
        f"over PGJOBS_MAX_ERROR_BYTES ({limit})]"
    )
    if keep == "start":
        return encoded[:limit].decode(errors="ignore") + "\n" + note
    return note + "\n" + encoded[-limit:].decode(errors="ignore")
