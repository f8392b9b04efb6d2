"""Settings: read from the environment once, validated, every error naming its variable."""

from __future__ import annotations

import datetime
import itertools

import pytest
from croniter import croniter

from jobs.settings import Settings, SettingsError, load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings()
    assert settings.database_url is None
    assert settings.max_body_bytes == 1024 * 1024


def test_reads_database_url_and_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("PGJOBS_MAX_BODY_BYTES", "2048")
    settings = load_settings()
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.max_body_bytes == 2048


def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGJOBS_API_PORT", "70000")
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "PGJOBS_API_PORT: Input should be less than or equal to 65535" in str(error.value)
    assert "DATABASE_URL: Value error, must be a postgresql:// URL" in str(error.value)


def test_task_modules_are_a_comma_separated_list_of_import_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGJOBS_TASK_MODULES", " myapp.tasks, reports ,myapp.tasks")
    assert load_settings().task_modules == ("myapp.tasks", "reports")
    monkeypatch.setenv("PGJOBS_TASK_MODULES", "myapp/tasks.py")
    with pytest.raises(SettingsError, match=r"PGJOBS_TASK_MODULES: .*'myapp/tasks.py' is not"):
        load_settings()


def test_production_requires_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGJOBS_ENVIRONMENT", "production")
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings()


def test_pool_bounds_are_checked() -> None:
    with pytest.raises(SettingsError, match="POOL_MIN_SIZE"):
        load_settings(pool_min_size=5, pool_max_size=2)


def test_require_database_url_explains_itself() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL is not set"):
        load_settings().require_database_url()


def test_authentication_is_on_unless_turned_off() -> None:
    assert load_settings().auth == "required"


def test_production_refuses_to_run_without_authentication(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGJOBS_ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("PGJOBS_AUTH", "off")
    with pytest.raises(SettingsError, match="production refuses PGJOBS_AUTH=off"):
        load_settings()
    with pytest.raises(ValueError, match="production refuses"):  # however the settings are built
        Settings(environment="production", database_url="postgresql://u@h/db", auth="off")


def test_cors_origins_must_be_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGJOBS_CORS_ORIGINS", "https://App.example.com, http://localhost:3000")
    assert load_settings().cors_origins == ("https://app.example.com", "http://localhost:3000")
    monkeypatch.setenv("PGJOBS_CORS_ORIGINS", "https://app.example.com/path")
    with pytest.raises(SettingsError, match="PGJOBS_CORS_ORIGINS"):
        load_settings()
    monkeypatch.setenv("PGJOBS_CORS_ORIGINS", "*")
    with pytest.raises(SettingsError, match="is not an origin"):
        load_settings()


def test_revocation_cache_is_at_most_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGJOBS_AUTH_CACHE_SECONDS", "5")
    with pytest.raises(SettingsError, match="PGJOBS_AUTH_CACHE_SECONDS"):
        load_settings()


# -- the maintenance schedules and liveness: defaults that mean what they say


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
