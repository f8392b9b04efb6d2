# Batches of agent tasks: group(...).apply_async() and GroupResult polling become one
# POST /batches (every job, or none, in one transaction) and GET /batches/{id}.
from __future__ import annotations

import httpx
from pydantic import BaseModel, Field

from jobs import RetryPolicy, TaskContext, task


class AgentStep(BaseModel):
    agent: str
    objective: str
    priority: int = Field(default=0, ge=-1000, le=1000)


@task(name="guide.agents.run", args=AgentStep, queue="agents", retry=RetryPolicy(max_attempts=2))
async def run_agent(ctx: TaskContext, args: AgentStep) -> dict[str, object]:
    """One agent working on one objective."""
    await ctx.progress(100, "done")
    return {"agent": args.agent, "objective": args.objective}


async def submit(pgjobs: httpx.AsyncClient, objectives: list[str]) -> str:
    """Submit one agent per objective as a batch; returns the batch id."""
    jobs = [
        {"task": "guide.agents.run", "args": {"agent": f"agent-{n}", "objective": objective}}
        for n, objective in enumerate(objectives)
    ]
    created = await pgjobs.post("/batches", json={"jobs": jobs})
    created.raise_for_status()
    return str(created.json()["id"])


async def progress(pgjobs: httpx.AsyncClient, batch_id: str) -> dict[str, object]:
    """Counts by status, mean progress, finished / failed: what GroupResult gave."""
    batch = (await pgjobs.get(f"/batches/{batch_id}")).raise_for_status().json()
    return {key: batch[key] for key in ("counts", "progress_percent", "finished", "status")}
