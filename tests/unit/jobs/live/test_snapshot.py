"""Which transactions a read of new events saw (so their notifications need no read)."""

from __future__ import annotations

from jobs.live.snapshot import Snapshot


def test_a_snapshot_saw_what_ended_before_it_and_not_what_ran_or_came_after() -> None:
    snapshot = Snapshot.parse("100:105:101,103")
    assert snapshot.saw(99)  # ended before xmin
    assert snapshot.saw(100)
    assert snapshot.saw(102)
    assert snapshot.saw(104)
    assert not snapshot.saw(101)  # running when the snapshot was taken
    assert not snapshot.saw(103)
    assert not snapshot.saw(105)  # started after it
    assert not snapshot.saw(200)


def test_a_snapshot_with_nothing_running() -> None:
    snapshot = Snapshot.parse("7:7:")
    assert snapshot.saw(6)
    assert not snapshot.saw(7)
