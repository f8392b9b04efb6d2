"""The media app's HTTP service: uploads in, transcription jobs out, in one transaction.

Run it with ``uvicorn media_app.web:app`` (``DATABASE_URL`` set, the schema
migrated with ``pgjobs migrate``). It imports ``jobs`` (to enqueue) but not
its task module: the transcription code, and its model, live on the workers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from jobs import enqueue
from media_app import store


class UploadIn(BaseModel):
    filename: str = Field(min_length=1, max_length=300)
    seconds: float = Field(gt=0, le=4 * 3600)
    language: str = "en"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        os.environ["DATABASE_URL"], min_size=1, max_size=5, open=False
    )
    await pool.open()
    async with pool.connection() as conn:
        await store.create_schema(conn)
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(title="media app", lifespan=lifespan)


@app.post("/uploads", status_code=201)
async def create_upload(upload: UploadIn) -> dict[str, int]:
    """Store the upload and enqueue its transcription: both commit, or neither does."""
    async with app.state.pool.connection() as conn, conn.transaction():
        upload_id = await store.add_upload(conn, upload.filename, upload.seconds)
        job = await enqueue(
            conn,
            "media.transcribe",
            {"upload_id": upload_id, "seconds": upload.seconds, "language": upload.language},
            created_by="media-app",
        )
        await store.set_job(conn, upload_id, job.id)
    return {"upload_id": upload_id, "job_id": job.id}


@app.get("/uploads/{upload_id}")
async def get_upload(upload_id: int) -> dict[str, Any]:
    """The upload with its transcription job's status, progress and result (or error)."""
    async with app.state.pool.connection() as conn:
        found = await store.upload_with_job(conn, upload_id)
    if found is None:
        raise HTTPException(404, f"upload {upload_id} does not exist")
    return found
