"""The example workloads of the design doc, as real tasks.

The work is simulated (sleeps stand in for model calls and encoders) but the
behaviour around it is real: progress is stored and notified, abort requests
and time limits stop the work, transient errors are retried with backoff,
periodic jobs run on cron.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel, ConfigDict, Field

from db import job_store
from jobs.tasks.context import SyncTaskContext, TaskContext, job_pool
from jobs.tasks.registry import registry
from jobs.tasks.retry import RetryPolicy
from jobs.tasks.time_limits import SoftTimeLimitExceeded


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateText(_Args):
    prompt: str = Field(min_length=1, max_length=20_000, description="What to write about.")
    max_tokens: int = Field(default=64, ge=1, le=4096)
    seconds_per_token: float = Field(default=0.0, ge=0, le=1, description="Simulated model speed.")


@registry.task(
    name="llm.generate", args=GenerateText, queue="llm", time_limit=600, soft_time_limit=540
)
async def generate_text(ctx: TaskContext, args: GenerateText) -> dict[str, object]:
    """Generate text for a prompt, reporting progress every 10% of the tokens.

    At its soft time limit it stops and returns the text so far, marked truncated.
    """
    words = args.prompt.split() or ["..."]
    tokens: list[str] = []
    step = max(1, args.max_tokens // 10)
    try:
        for index in range(args.max_tokens):
            tokens.append(words[index % len(words)])
            if args.seconds_per_token:
                await asyncio.sleep(args.seconds_per_token)
            if (index + 1) % step == 0 or index + 1 == args.max_tokens:
                await ctx.progress(100 * (index + 1) / args.max_tokens, f"{index + 1} tokens")
    except SoftTimeLimitExceeded:
        return {"text": " ".join(tokens), "tokens": len(tokens), "truncated": True}
    return {"text": " ".join(tokens), "tokens": len(tokens)}


class TranscodeVideo(_Args):
    video_url: str = Field(min_length=1, max_length=2048)
    duration_seconds: float = Field(
        default=1.0, gt=0, le=24 * 3600, description="Simulated length."
    )
    segments: int = Field(default=10, ge=1, le=10_000)


@registry.task(
    name="video.transcode",
    args=TranscodeVideo,
    queue="video",
    time_limit=6 * 3600,
    soft_time_limit=6 * 3600 - 300,
)
def transcode_video(ctx: SyncTaskContext, args: TranscodeVideo) -> dict[str, object]:
    """Transcode a video segment by segment.

    Sync: between segments it stops if asked to (abort, shutdown, soft time limit).
    """
    per_segment = args.duration_seconds / args.segments
    for segment in range(args.segments):
        ctx.stop_if_requested()
        time.sleep(per_segment)
        ctx.progress(100 * (segment + 1) / args.segments, f"segment {segment + 1}/{args.segments}")
    return {"output": args.video_url.rsplit("/", 1)[-1] + ".mp4", "segments": args.segments}


class TransientToolError(Exception):
    """A tool failure worth retrying (timeouts, 5xx)."""


class ToolRejectedError(Exception):
    """A tool refused the call (bad input, 4xx): retrying the same call cannot help."""


class RunTool(_Args):
    tool: str = Field(min_length=1, max_length=200)
    input: dict[str, object] = Field(default_factory=dict)
    fail_first_attempts: int = Field(
        default=0, ge=0, le=100, description="Simulate this many transient failures first."
    )
    reject_first_attempts: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Simulate this many rejections first (permanent: never retried by itself).",
    )


@registry.task(
    name="tools.run",
    args=RunTool,
    queue="tools",
    retry=RetryPolicy(
        max_attempts=3,
        backoff="exponential",
        initial_delay=0.5,
        max_delay=30,
        jitter=0.2,
        retry_on=(TransientToolError,),
    ),
)
async def run_tool(ctx: TaskContext, args: RunTool) -> dict[str, object]:
    """Call an external tool; transient failures are retried (3 attempts, backoff from 0.5 s).

    Its first ``reject_first_attempts`` attempts are rejected (final), then its
    first ``fail_first_attempts`` fail transiently.
    """
    if ctx.attempt <= args.reject_first_attempts:
        raise ToolRejectedError(f"{args.tool} rejected the input (attempt {ctx.attempt})")
    if ctx.attempt <= args.fail_first_attempts:
        raise TransientToolError(f"{args.tool} timed out (attempt {ctx.attempt})")
    return {"tool": args.tool, "output": args.input, "attempt": ctx.attempt}


class AgentStep(_Args):
    agent: str = Field(min_length=1, max_length=200)
    objective: str = Field(min_length=1, max_length=5000)
    steps: int = Field(default=3, ge=1, le=100)
    seconds_per_step: float = Field(default=0.0, ge=0, le=60)


@registry.task(name="agents.run", args=AgentStep, queue="agents")
async def run_agent(ctx: TaskContext, args: AgentStep) -> dict[str, object]:
    """Run one agent of a batch through its steps, reporting progress per step."""
    for step in range(args.steps):
        if args.seconds_per_step:
            await asyncio.sleep(args.seconds_per_step)
        await ctx.progress(100 * (step + 1) / args.steps, f"step {step + 1}/{args.steps}")
    return {"agent": args.agent, "objective": args.objective, "steps": args.steps}


class NoArgs(_Args):
    pass


@registry.task(name="maintenance.daily_cleanup", args=NoArgs, queue="maintenance", cron="0 3 * * *")
async def daily_cleanup(ctx: TaskContext, args: NoArgs) -> dict[str, object]:
    """Daily cleanup at 03:00 (deduplicated across workers): prune expired temporary data."""
    await ctx.progress(100, "nothing to prune")
    return {"pruned": 0}


@registry.task(name="stats.hourly", args=NoArgs, queue="maintenance", cron="0 * * * *")
async def hourly_statistics(ctx: TaskContext, args: NoArgs) -> dict[str, object]:
    """Hourly statistics: job counts by status, stored as this job's result."""
    async with job_pool(ctx.procrastinate).connection() as conn:
        counts = await job_store.job_count_by_status(conn)
    return {"jobs_by_status": counts}
