"""docker/: the compose file's startup order, health checks and restart policies, and that every
command the image runs exists. No Docker engine needed: the files are parsed and checked."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from uvicorn.importer import import_from_string

from api.cli import main as cli
from api.cli.supervisor import STOP_MARGIN_SECONDS
from jobs.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
LONG_RUNNING_RESTARTS = {"always", "unless-stopped", "on-failure"}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of docker/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_postgres_is_health_checked_with_pg_isready(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["restart"] in LONG_RUNNING_RESTARTS


def test_migrate_runs_once_after_postgres_is_healthy(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    assert migrate["command"] == ["pgjobs", "migrate"]


@pytest.mark.parametrize("name", ["api", "worker"])
def test_api_and_workers_wait_for_the_migration_and_restart(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert service["restart"] in LONG_RUNNING_RESTARTS
    assert service["init"] is True  # signals reach the process, zombies are reaped


def test_workers_scale_and_get_their_grace_period(services: dict[str, Any]) -> None:
    worker = services["worker"]
    # --scale worker=N works: no fixed name, no host port
    assert "container_name" not in worker
    assert "ports" not in worker
    grace = float(worker["environment"]["PGJOBS_WORKER_SHUTDOWN_GRACE_SECONDS"])
    stop_grace = float(worker["stop_grace_period"].removesuffix("s"))
    # docker must not SIGKILL a worker still inside its grace period, or the supervisor's margin
    assert stop_grace >= grace + STOP_MARGIN_SECONDS


def test_every_service_of_the_image_reaches_the_database_service(services: dict[str, Any]) -> None:
    for name in ("migrate", "api", "worker"):
        environment = services[name]["environment"]
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert environment["PGJOBS_ENVIRONMENT"] == "production"
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"


def _check_command(command: list[str]) -> None:
    """Fail unless ``command`` is one the image can run."""
    if command[0] == "pgjobs":
        with pytest.raises(SystemExit) as exited:
            cli.main([*command[1:], "--help"])
        assert exited.value.code == 0, command
    elif command[0] == "uvicorn":
        factory = command[command.index("--factory") + 1]
        assert callable(import_from_string(factory)), command
    else:
        raise AssertionError(f"unexpected command {command}")


def test_every_command_exists(services: dict[str, Any]) -> None:
    for name in ("migrate", "api", "worker"):
        _check_command(services[name]["command"])
    (cmd,) = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    _check_command(json.loads(cmd))  # exec form: a JSON array
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["pgjobs"] == "api.cli.main:main"


def test_dependencies_are_installed_before_the_project_is_copied() -> None:
    instructions = dockerfile_instructions()
    syncs = [i for i, (kw, args) in enumerate(instructions) if "uv sync --frozen" in args]
    copies = [
        i for i, (kw, args) in enumerate(instructions) if kw == "COPY" and "--from" not in args
    ]
    assert len(syncs) == 2
    assert "--no-install-project" in instructions[syncs[0]][1]
    assert syncs[0] < min(copies)
    assert max(copies) < syncs[1]
    # the first sync sees only the lock and pyproject (bind mounts), so code changes keep it cached
    assert "source=uv.lock" in instructions[syncs[0]][1]


def test_sources_the_image_copies_exist() -> None:
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in args:
            *sources, _destination = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source


def test_the_image_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in dockerfile_instructions() if keyword == "USER"]
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_the_api_port_matches() -> None:
    (exposed,) = [args for keyword, args in dockerfile_instructions() if keyword == "EXPOSE"]
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    assert compose["services"]["api"]["ports"] == [f"{exposed}:{exposed}"]
    assert Settings.model_fields["api_port"].default == int(exposed)


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", ".pgjobs"} <= set(ignored)


def test_an_image_with_your_own_tasks_builds_on_the_base_image() -> None:
    """docs/examples/media_app/Dockerfile: pgjobs' image + the app's module + the setting."""
    app_dir = ROOT / "docs" / "examples" / "media_app"
    text = re.sub(r"\\\n", " ", (app_dir / "Dockerfile").read_text())
    assert text.startswith("# syntax=docker/dockerfile:1")
    instructions = [
        (line.split(" ", 1)[0], line.split(" ", 1)[1].strip())
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]
    assert instructions[0] == ("FROM", "pgjobs:local")
    # the base image is the one docker/Dockerfile builds under that tag
    assert "-t pgjobs:local" in (DOCKER / "Dockerfile").read_text() or (
        yaml.safe_load((DOCKER / "compose.yml").read_text())["x-pgjobs"]["image"] == "pgjobs:local"
    )
    (copy,) = [args for keyword, args in instructions if keyword == "COPY"]
    source, destination = copy.split()
    assert (app_dir / source).is_dir()
    env = dict(
        pair.split("=", 1)
        for keyword, args in instructions
        if keyword == "ENV"
        for pair in args.split()
    )
    # the module the setting names is the package copied, importable from PYTHONPATH
    package, *submodule = env["PGJOBS_TASK_MODULES"].split(".")
    assert destination == f"{env['PYTHONPATH']}/{package}"
    assert app_dir.joinpath(source, *submodule).with_suffix(".py").is_file()
    (cmd,) = [args for keyword, args in instructions if keyword == "CMD"]
    _check_command(json.loads(cmd))
    # both the base image and this one use BuildKit-only features or say so
    assert "BuildKit" in (app_dir / "Dockerfile").read_text()
    assert "BuildKit" in (ROOT / "docs" / "tasks.md").read_text()
