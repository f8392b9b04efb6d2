from __future__ import annotations

import pytest
from pydantic import BaseModel

from jobs.errors import InvalidArguments, InvalidJobOptions, UnknownTask
from jobs.tasks.registry import TaskRegistry, registry


class Args(BaseModel):
    n: int


def test_validate_returns_json_ready_arguments() -> None:
    spec = registry.get("llm.generate")
    assert spec.validate({"prompt": "hi"}) == {
        "prompt": "hi",
        "max_tokens": 64,
        "seconds_per_token": 0.0,
    }


def test_validation_errors_carry_pydantic_locations() -> None:
    with pytest.raises(InvalidArguments) as error:
        registry.get("llm.generate").validate({"prompt": 3, "extra": True})
    assert {tuple(item["loc"]) for item in error.value.errors} == {("prompt",), ("extra",)}


def test_unknown_task_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownTask) as error:
        registry.get("missing")
    assert "llm.generate" in error.value.known


def test_duplicate_and_invalid_declarations_fail_at_start_up() -> None:
    local = TaskRegistry()

    @local.task(name="t", args=Args)
    async def first(ctx: object, args: Args) -> None: ...

    with pytest.raises(ValueError, match="twice"):

        @local.task(name="t", args=Args)
        async def second(ctx: object, args: Args) -> None: ...

    with pytest.raises(InvalidJobOptions, match="cron"):
        local.task(name="c", args=Args, cron="every minute")
    with pytest.raises(InvalidJobOptions, match="queue"):
        local.task(name="q", args=Args, queue="no spaces allowed")
    with pytest.raises(InvalidJobOptions, match="priority"):
        local.task(name="p", args=Args, priority=5000)


def test_periodic_tick_is_not_passed_to_the_model() -> None:
    spec = registry.get("stats.hourly")
    assert spec.task_arguments({"timestamp": 1700000000}) == {}
