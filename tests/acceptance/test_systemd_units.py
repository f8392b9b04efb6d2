"""``systemd-analyze verify`` accepts the units of scripts/systemd/ without a warning.

The units are installed under /opt/pgjobs and /etc/pgjobs; here they are checked as
copies pointing at this checkout (whose .venv/bin/pgjobs exists) and a scratch
environment file, so verify can check every path it resolves.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.processes import ROOT

UNITS = ROOT / "scripts" / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    shutil.copy(UNITS / "pgjobs.env.example", tmp_path / "pgjobs.env")
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/pgjobs", str(ROOT))
        text = text.replace("/etc/pgjobs", str(tmp_path))
        # a templated unit is verified through an instance of it
        name = unit.name.replace("@.service", "@default.service")
        (tmp_path / name).write_text(text)
    assert (ROOT / ".venv" / "bin" / "pgjobs").exists()
    units = sorted(str(path) for path in tmp_path.glob("*.service"))
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr  # unknown keys are only warnings
    assert len(units) == 3
