"""The supervisor's restart policy (its child processes are tested in the integration tier)."""

from __future__ import annotations

from api.cli.supervisor import Backoff


def test_backoff_doubles_up_to_its_cap_and_resets_after_a_healthy_run() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=5, healthy_after=60)
    delays: list[float] = []
    previous: float | None = None
    for _ in range(5):
        previous = backoff.next_delay(previous, uptime=0.5)
        delays.append(previous)
    assert delays == [1, 2, 4, 5, 5]
    assert backoff.next_delay(5, uptime=61) == 1
