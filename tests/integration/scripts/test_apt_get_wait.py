"""scripts/apt-get-wait: a busy package manager is waited for, other failures are not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def fake_apt_get(tmp_path: Path, locked_runs: int, final_status: int = 0) -> dict[str, str]:
    """An apt-get on PATH that reports a held lock ``locked_runs`` times, then exits."""
    counter = tmp_path / "runs"
    counter.write_text("0")
    script = tmp_path / "bin" / "apt-get"
    script.parent.mkdir()
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"n=$(($(cat {counter}) + 1)); echo $n > {counter}\n"
        f"if [ $n -le {locked_runs} ]; then\n"
        "  echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 42"
        " (apt-get)' >&2; exit 100\n"
        "fi\n"
        f'echo "ran: $*"; exit {final_status}\n'
    )
    script.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{script.parent}{os.pathsep}{os.environ['PATH']}",
        "APT_LOCK_RETRY_SECONDS": "0.05",
        "APT_LOCK_WAIT_SECONDS": "30",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "apt-get-wait"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_waits_for_the_lock_then_runs(tmp_path: Path) -> None:
    done = run(fake_apt_get(tmp_path, locked_runs=3), "install", "-y", "chromium")
    assert done.returncode == 0, done.stderr
    assert "-o DPkg::Lock::Timeout=10 install -y chromium" in done.stdout
    assert done.stderr.count("package manager is busy") == 3
    assert (tmp_path / "runs").read_text().strip() == "4"


def test_other_failures_are_not_retried(tmp_path: Path) -> None:
    done = run(fake_apt_get(tmp_path, locked_runs=0, final_status=100), "install", "nope")
    assert done.returncode == 100
    assert (tmp_path / "runs").read_text().strip() == "1"


def test_gives_up_after_the_wait(tmp_path: Path) -> None:
    env = {**fake_apt_get(tmp_path, locked_runs=10_000), "APT_LOCK_WAIT_SECONDS": "1"}
    done = run(env, "update")
    assert done.returncode == 100
    assert "stayed locked for 1 s" in done.stderr
