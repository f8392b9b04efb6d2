from __future__ import annotations

from jobs.live.watermark import MAX_TRACKED_GAP, CommitWatermark


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_in_order_ids_move_the_watermark_with_them() -> None:
    watermark = CommitWatermark(10, grace_seconds=5)
    assert [watermark.observe(n) for n in (11, 12, 13)] == [True, True, True]
    assert watermark.value == 13


def test_a_skipped_id_holds_the_watermark_until_it_arrives() -> None:
    watermark = CommitWatermark(10, grace_seconds=5)
    watermark.observe(12)  # 11 committed later
    watermark.observe(13)
    assert watermark.value == 10
    assert watermark.missing == 1
    assert watermark.observe(11) is True
    assert watermark.value == 13


def test_repeats_are_recognised() -> None:
    watermark = CommitWatermark(10, grace_seconds=5)
    watermark.observe(12)
    assert watermark.observe(12) is False
    assert watermark.observe(9) is False  # before the start: already delivered
    assert watermark.observe(11) is True
    assert watermark.observe(11) is False


def test_a_hole_is_given_up_after_the_grace_period_and_a_late_arrival_is_still_new() -> None:
    clock = Clock()
    watermark = CommitWatermark(10, grace_seconds=5, clock=clock)
    watermark.observe(12)
    clock.now = 4.9
    assert watermark.value == 10
    clock.now = 5.0
    assert watermark.value == 12  # 11 rolled back, or its transaction is still open
    assert watermark.observe(11) is True  # it did commit, late: delivered, not dropped
    assert watermark.observe(11) is False


def test_a_very_wide_gap_is_a_hole_at_once() -> None:
    watermark = CommitWatermark(0, grace_seconds=5)
    far = MAX_TRACKED_GAP + 10
    watermark.observe(far)
    assert watermark.value == far
    assert watermark.observe(5) is True  # late arrival from inside the range
    assert watermark.observe(5) is False
    assert watermark.observe(6) is True


def test_a_reader_looks_again_for_awaited_ids_and_the_latest_given_up() -> None:
    now = [0.0]
    watermark = CommitWatermark(10, grace_seconds=5, clock=lambda: now[0])
    watermark.observe(13)  # 11 and 12 awaited
    assert watermark.awaited() == [11, 12]
    now[0] = 6.0  # both given up on: still looked for, newest first
    watermark.observe(15)  # 14 awaited
    assert watermark.awaited() == [14, 12, 11]
    assert watermark.observe(12)  # a late arrival is new
    assert watermark.awaited() == [14, 11]
