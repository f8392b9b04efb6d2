"""The maintenance schedules and liveness settings: defaults that mean what they say."""

from __future__ import annotations

import datetime
import itertools

import pytest
from croniter import croniter

from jobs.settings import Settings, SettingsError, load_settings


def ticks(cron: str, count: int) -> list[float]:
    start = datetime.datetime(2026, 1, 1, 12, 3, 7, tzinfo=datetime.UTC)
    iterator = croniter(cron, start)
    return [iterator.get_next(float) for _ in range(count)]


def test_the_rescue_runs_every_10_seconds_and_retention_every_10_minutes() -> None:
    settings = Settings()
    rescue = ticks(settings.rescue_cron, 7)
    assert {later - earlier for earlier, later in itertools.pairwise(rescue)} == {10.0}
    retention = ticks(settings.retention_cron, 4)
    assert {later - earlier for earlier, later in itertools.pairwise(retention)} == {600.0}


def test_a_kill_is_rescued_well_within_a_minute_by_default() -> None:
    settings = Settings()
    worst_case = settings.worker_stalled_after_seconds + 10  # + one rescue interval
    assert worst_case <= 60
    assert settings.worker_heartbeat_seconds * 2 <= settings.worker_stalled_after_seconds


def test_a_bad_cron_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGJOBS_RESCUE_CRON", "every ten seconds")
    with pytest.raises(SettingsError, match="PGJOBS_RESCUE_CRON"):
        load_settings()


def test_a_heartbeat_slower_than_half_the_stalled_threshold_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGJOBS_WORKER_HEARTBEAT_SECONDS", "20")
    with pytest.raises(SettingsError, match="HEARTBEAT"):
        load_settings()
