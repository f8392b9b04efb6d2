"""Fault injection, shared by the bounded suite (``tests/faults``) and ``bench/faults.py``.

The cluster's processes run :mod:`harness.faults.recording` (the API and the
workers' app, knowing the task below) and :mod:`harness.faults.worker` (the
supervised worker); nothing else imports them, since importing ``recording``
registers the task in the global registry.
"""

from __future__ import annotations

#: The recorded task (harness/faults/recording.py) and its queue.
TASK = "faults.record"
QUEUE = "faults"
