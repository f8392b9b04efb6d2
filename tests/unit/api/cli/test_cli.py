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


@pytest.mark.parametrize("command", ["api", "dev"])
def test_an_open_api_refuses_to_listen_beyond_loopback(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/db")
    monkeypatch.setenv("PGJOBS_AUTH", "off")
    assert cli.main([command, "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("127.1.2.3", True), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
     ("example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert cli.is_loopback(host) is loopback
