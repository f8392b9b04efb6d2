"""One SQL function wakes a queue's workers: ``pgjobs_notify_queue_v1(queue_name, job_id)``.

procrastinate's workers LISTEN on ``procrastinate_queue_v1#<queue>`` (and
``procrastinate_any_queue_v1``) and fetch a job when a ``job_inserted``
notification arrives; its trigger sends one for every job INSERTed in todo.
pgjobs moves jobs back to todo with UPDATEs (retry, bulk retry of dead letters,
stalled-job rescue), which fire no such trigger, so each of those statements
wakes the workers itself. This function sends exactly what procrastinate's own
``procrastinate_notify_queue_job_inserted_v1`` sends, so the channel name and
payload are written once; a test compares the two on procrastinate's packaged
``schema.sql``, so a procrastinate upgrade that changes them fails it.

Revision ID: pgjobs_0007
Revises: pgjobs_0006
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0007"
down_revision = "pgjobs_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION pgjobs_notify_queue_v1(queue_name text, job_id bigint)
            RETURNS void
            LANGUAGE plpgsql
        AS $$
        DECLARE
            payload text;
        BEGIN
            -- as procrastinate_notify_queue_job_inserted_v1 does for an inserted job
            payload := json_build_object('type', 'job_inserted', 'job_id', job_id)::text;
            PERFORM pg_notify('procrastinate_queue_v1#' || queue_name, payload);
            PERFORM pg_notify('procrastinate_any_queue_v1', payload);
        END;
        $$;
        COMMENT ON FUNCTION pgjobs_notify_queue_v1(text, bigint) IS
            'Wake the workers of a queue for a job moved (back) to todo by an UPDATE, as procrastinate''s job-inserted trigger does for an INSERT.';
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION pgjobs_notify_queue_v1(text, bigint);")
