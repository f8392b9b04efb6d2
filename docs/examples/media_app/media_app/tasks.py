"""The media app's task module: ``PGJOBS_TASK_MODULES=media_app.tasks`` on its workers.

``media.transcribe`` stands for the heavy step (a speech-to-text model the API
process never imports); when it is done it writes the transcript into the
app's own table and chains ``media.summarize``, in one transaction.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from jobs import RetryPolicy, TaskContext, enqueue, task
from jobs.tasks.context import job_pool
from media_app import store


class Transcribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upload_id: int
    #: Length of the recording; the stand-in "model" takes 10 ms per second of audio.
    seconds: float = Field(gt=0, le=4 * 3600)
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")


class Summarize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upload_id: int


@task(
    name="media.transcribe",
    args=Transcribe,
    queue="media",
    retry=RetryPolicy(max_attempts=3, retry_on=(TimeoutError,)),
    time_limit=3600,
)
async def transcribe(ctx: TaskContext, args: Transcribe) -> dict[str, object]:
    """Transcribe an upload, then chain its summary."""
    words: list[str] = []
    segments = max(1, int(args.seconds // 10))
    for segment in range(segments):
        await asyncio.sleep(0.01)  # the model would run here
        words.append(f"segment{segment + 1}")
        await ctx.progress(100 * (segment + 1) / segments, f"{segment + 1}/{segments} segments")
    transcript = " ".join(words)
    async with job_pool(ctx.procrastinate).connection() as conn, conn.transaction():
        await store.save_transcript(conn, args.upload_id, transcript)
        summary_job = await enqueue(conn, "media.summarize", {"upload_id": args.upload_id})
    return {"words": len(words), "language": args.language, "summary_job": summary_job.id}


@task(name="media.summarize", args=Summarize, queue="media")
async def summarize(ctx: TaskContext, args: Summarize) -> dict[str, object]:
    """Summarize a transcript (here: its first and last words)."""
    async with job_pool(ctx.procrastinate).connection() as conn:
        transcript = await store.transcript(conn, args.upload_id)
        words = transcript.split() if transcript else []
        summary = f"{words[0]} ... {words[-1]}" if words else ""
        await store.save_summary(conn, args.upload_id, summary)
    return {"summary": summary}
