# FastAPI BackgroundTasks run in the web process and die with it (a deploy, a crash, an
# OOM kill): the work is lost and the row says "processing" forever. Enqueued in the
# request's transaction instead, the job is durable before the response is sent.
from __future__ import annotations

from fastapi import APIRouter
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from jobs import TaskContext, enqueue, task
from jobs.tasks.context import job_pool


class Render(BaseModel):
    scene_id: int


@task(name="guide.scenes.render", args=Render, queue="render")
async def render_scene(ctx: TaskContext, args: Render) -> dict[str, object]:
    """Render a scene, then mark it done in the app's own table."""
    async with job_pool(ctx.procrastinate).connection() as conn:
        await conn.execute("UPDATE scenes SET status = 'done' WHERE id = %s", [args.scene_id])
    return {"scene_id": args.scene_id}


def routes(pool: AsyncConnectionPool) -> APIRouter:  # type: ignore[type-arg]
    router = APIRouter()

    @router.post("/scenes", status_code=202)
    async def create_scene(title: str) -> dict[str, int]:
        # was: background_tasks.add_task(render_scene, scene_id) after the insert
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "INSERT INTO scenes (title, status) VALUES (%s, 'queued') RETURNING id", [title]
            )
            (scene_id,) = await cursor.fetchone() or (0,)
            job = await enqueue(conn, "guide.scenes.render", {"scene_id": scene_id})
        return {"scene_id": scene_id, "job_id": job.id}

    return router
