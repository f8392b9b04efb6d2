from __future__ import annotations

import pytest

from api.cli import main as cli


def test_bad_settings_exit_2_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    assert cli.main(["migrate"]) == 2
    assert "must be a postgresql:// URL" in capsys.readouterr().err


def test_migrate_without_database_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate"]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err


def test_worker_command_is_the_plain_procrastinate_cli() -> None:
    command = cli.worker_command("llm,video", 8)
    assert command[1:] == [
        *["-m", "procrastinate", "--app=jobs.app", "worker"],
        *["--queues", "llm,video", "--concurrency", "8"],
    ]
