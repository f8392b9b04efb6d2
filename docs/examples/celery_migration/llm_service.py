# An LLM generation service: the job manager, its Redis state and its polling endpoint
# become one task; the job's status, progress and result live in Postgres.
from __future__ import annotations

from fastapi import APIRouter
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from jobs import RetryPolicy, SoftTimeLimitExceeded, TaskContext, enqueue, task


class Generate(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    max_tokens: int = Field(default=256, ge=1, le=8192)


class ModelOverloaded(Exception):
    """The model server answered 503: worth another try."""


async def call_model(prompt: str, max_tokens: int) -> list[str]:
    """Stand-in for the inference client (it would stream tokens from the model server)."""
    return (prompt.split() * max_tokens)[:max_tokens]


@task(
    name="guide.llm.generate",
    args=Generate,
    queue="llm",
    retry=RetryPolicy(max_attempts=4, retry_on=(ModelOverloaded,), initial_delay=2),
    time_limit=300,
    soft_time_limit=270,
)
async def generate(ctx: TaskContext, args: Generate) -> dict[str, object]:
    """Generate text; progress every 25%, the partial text at the soft time limit."""
    tokens: list[str] = []
    try:
        produced = await call_model(args.prompt, args.max_tokens)
        for index, token in enumerate(produced, start=1):
            tokens.append(token)
            if index % max(1, len(produced) // 4) == 0:
                await ctx.progress(100 * index / len(produced), f"{index} tokens")
    except SoftTimeLimitExceeded:
        return {"text": " ".join(tokens), "truncated": True}
    return {"text": " ".join(tokens), "truncated": False}


def routes(pool: AsyncConnectionPool) -> APIRouter:  # type: ignore[type-arg]
    """The service's own endpoint: it answers with the job id; clients then read
    GET /jobs/{id} (or stream GET /jobs/{id}/events) from pgjobs' API."""
    router = APIRouter()

    @router.post("/generate", status_code=202)
    async def start(body: Generate) -> dict[str, int]:
        async with pool.connection() as conn, conn.transaction():
            job = await enqueue(conn, "guide.llm.generate", body.model_dump())
        return {"job_id": job.id}

    return router
