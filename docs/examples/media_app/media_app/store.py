"""The media app's own table, and the SQL that reads its uploads with their jobs.

The table is the app's, not pgjobs': the app creates it at start-up
(``CREATE TABLE IF NOT EXISTS``); a real app would use its own migrations.
Job status and results are read from pgjobs' documented tables
(``procrastinate_jobs``, ``pgjobs_jobs``) in the same query as the app's row.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.AsyncConnection[Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS media_uploads (
    id bigserial PRIMARY KEY,
    filename text NOT NULL,
    seconds double precision NOT NULL,
    transcribe_job_id bigint,
    transcript text,
    summary text,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


async def create_schema(conn: Conn) -> None:
    await conn.execute(SCHEMA)


async def add_upload(conn: Conn, filename: str, seconds: float) -> int:
    cursor = await conn.execute(
        "INSERT INTO media_uploads (filename, seconds) VALUES (%s, %s) RETURNING id",
        [filename, seconds],
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def set_job(conn: Conn, upload_id: int, job_id: int) -> None:
    await conn.execute(
        "UPDATE media_uploads SET transcribe_job_id = %s WHERE id = %s", [job_id, upload_id]
    )


async def save_transcript(conn: Conn, upload_id: int, transcript: str) -> None:
    await conn.execute(
        "UPDATE media_uploads SET transcript = %s WHERE id = %s", [transcript, upload_id]
    )


async def transcript(conn: Conn, upload_id: int) -> str | None:
    cursor = await conn.execute("SELECT transcript FROM media_uploads WHERE id = %s", [upload_id])
    row = await cursor.fetchone()
    return None if row is None else row[0]


async def save_summary(conn: Conn, upload_id: int, summary: str) -> None:
    await conn.execute("UPDATE media_uploads SET summary = %s WHERE id = %s", [summary, upload_id])


async def upload_with_job(conn: Conn, upload_id: int) -> dict[str, Any] | None:
    """The upload, its transcription job's status, progress, result and error."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            """
            SELECT upload.id, upload.filename, upload.transcript, upload.summary,
                   job.id AS job_id, job.status::text AS job_status, job.attempts,
                   record.progress_percent, record.result, record.error_type,
                   record.error_message
              FROM media_uploads upload
              LEFT JOIN procrastinate_jobs job ON job.id = upload.transcribe_job_id
              LEFT JOIN pgjobs_jobs record ON record.job_id = job.id
             WHERE upload.id = %s
            """,
            [upload_id],
        )
        return await cursor.fetchone()
