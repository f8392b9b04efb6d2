# A tools platform: task_routes become each task's queue, beat_schedule becomes cron on
# the task (one job per tick however many workers run), autoretry_for becomes a policy.
from __future__ import annotations

from pydantic import BaseModel, Field

from jobs import RetryPolicy, TaskContext, task


class ToolBusy(Exception):
    """The tool's backend asked us to come back later."""


class RunTool(BaseModel):
    tool: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    payload: dict[str, object] = Field(default_factory=dict)
    busy_attempts: int = Field(default=0, ge=0, description="Simulated: fail this many times.")


class NoArgs(BaseModel):
    pass


@task(
    name="guide.tools.run",
    args=RunTool,
    queue="tools",  # was: task_routes = {"tools.*": {"queue": "tools"}}
    retry=RetryPolicy(max_attempts=5, retry_on=(ToolBusy,), initial_delay=0.1, max_delay=30),
    time_limit=600,  # was: task_time_limit
)
async def run_tool(ctx: TaskContext, args: RunTool) -> dict[str, object]:
    """Run one tool; a busy backend is retried with exponential backoff."""
    if ctx.attempt <= args.busy_attempts:
        raise ToolBusy(f"{args.tool} is busy (attempt {ctx.attempt})")
    return {"tool": args.tool, "attempt": ctx.attempt, "echo": args.payload}


@task(name="guide.tools.refresh_index", args=NoArgs, queue="tools-maintenance", cron="0 * * * *")
async def refresh_index(ctx: TaskContext, args: NoArgs) -> dict[str, object]:
    """Hourly, on the hour (was: beat_schedule with crontab(minute=0))."""
    return {"refreshed": True}
