"""scripts/systemd/: migrate before start, restart policies, stop timeouts, the hardening
baseline, a dedicated user, and commands that exist. Parsed, no systemd needed (the
``systemd-analyze verify`` run is in tests/acceptance/test_systemd_units.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from api.cli import main as cli
from api.cli.supervisor import STOP_MARGIN_SECONDS
from jobs.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "scripts" / "systemd"
SERVICES = ["pgjobs-migrate.service", "pgjobs-api.service", "pgjobs-worker@.service"]
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "User": "pgjobs",
    "Group": "pgjobs",
}

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections -> key -> values (systemd allows a key more than once)."""
    unit: Unit = {}
    section: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if match := re.fullmatch(r"\[(\w+)\]", line):
            section = unit.setdefault(match[1], {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    (value,) = unit[section][key]
    return value


def seconds(value: str) -> float:
    return float(value.removesuffix("s"))


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> tuple[str, Unit]:
    return request.param, parse_unit(UNITS / request.param)


def test_every_unit_has_the_hardening_baseline(service: tuple[str, Unit]) -> None:
    name, unit = service
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value, (name, key)
    assert unit["Service"]["EnvironmentFile"][0] == "/etc/pgjobs/pgjobs.env", name


def test_the_dedicated_user_is_created_by_sysusers() -> None:
    entries = [
        shlex.split(line)
        for line in (UNITS / "pgjobs.sysusers").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [entry[:2] for entry in entries] == [["u", "pgjobs"]]
    assert entries[0][-1] == "/usr/sbin/nologin"


def test_the_migration_runs_once_before_the_api_and_the_workers() -> None:
    migrate = parse_unit(UNITS / "pgjobs-migrate.service")
    assert one(migrate, "Service", "Type") == "oneshot"
    assert one(migrate, "Service", "RemainAfterExit") == "yes"
    assert one(migrate, "Service", "ExecStart").split()[1:] == ["migrate"]
    for name in ("pgjobs-api.service", "pgjobs-worker@.service"):
        unit = parse_unit(UNITS / name)
        assert "pgjobs-migrate.service" in one(unit, "Unit", "Requires").split(), name
        assert "pgjobs-migrate.service" in one(unit, "Unit", "After").split(), name


def test_long_running_units_restart_and_workers_get_their_grace_period() -> None:
    api = parse_unit(UNITS / "pgjobs-api.service")
    worker = parse_unit(UNITS / "pgjobs-worker@.service")
    for unit in (api, worker):
        assert one(unit, "Service", "Restart") == "always"
    # SIGTERM to the supervisor only: it drains its worker processes itself
    assert one(worker, "Service", "KillMode") == "mixed"
    grace = Settings.model_fields["worker_shutdown_grace_seconds"].default
    assert seconds(one(worker, "Service", "TimeoutStopSec")) >= grace + STOP_MARGIN_SECONDS


def test_every_command_exists() -> None:
    for name in SERVICES:
        command = shlex.split(one(parse_unit(UNITS / name), "Service", "ExecStart"))
        assert command[0] == "/opt/pgjobs/.venv/bin/pgjobs", name
        # systemd specifiers and variables replaced by plausible values
        argv = [re.sub(r"%[Hi]", "x", word) for word in command[1:] if not word.startswith("$")]
        with pytest.raises(SystemExit) as exited:
            cli.main([*argv, "--help"])
        assert exited.value.code == 0, command
