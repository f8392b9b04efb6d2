"""Completion webhooks: a job's callback URL, its deliveries and their attempts.

``pgjobs_jobs.callback_url`` is set at creation (from the request or the task's
default). When a job with one reaches a final state, procrastinate's own status
trigger inserts the final event (succeeded, failed, cancelled, aborted) in the
transaction that changes the status, whichever code path does it (the worker's
completion statement, the rescue, a cancel); pgjobs' trigger
``pgjobs_defer_callback_v1`` on that insert defers the delivery, a job of task
``pgjobs.deliver_callback`` on queue ``pgjobs.callbacks``, and records it in
``pgjobs_callbacks``, in that same transaction. So a delivery exists exactly when
the completion committed: no completion without its delivery, no delivery of a
completion that rolled back, and nothing in the completion statement itself
had to change. Jobs without a callback cost one primary-key lookup per final event.

Each HTTP attempt is a row of ``pgjobs_callback_attempts`` (status code,
latency, error). Both tables go with their jobs (ON DELETE CASCADE).

Revision ID: pgjobs_0010
Revises: pgjobs_0009
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0010"
down_revision = "pgjobs_0009"
branch_labels = None
depends_on = None

#: Keep in sync with jobs/callbacks/delivery.py (the delivery tests fail otherwise).
QUEUE = "pgjobs.callbacks"
TASK = "pgjobs.deliver_callback"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE pgjobs_jobs ADD COLUMN callback_url text;
        COMMENT ON COLUMN pgjobs_jobs.callback_url IS
            'Where pgjobs POSTs the job''s outcome when it reaches a final state (docs/callbacks.md).';

        CREATE TABLE pgjobs_callbacks (
            delivery_job_id bigint PRIMARY KEY
                REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
            job_id bigint NOT NULL REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
            event_id bigint NOT NULL,
            status text NOT NULL,
            url text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            delivered_at timestamptz,
            UNIQUE (job_id, event_id)
        );
        COMMENT ON TABLE pgjobs_callbacks IS
            'One delivery per final state of a job with a callback_url; delivery_job_id is the job that sends it.';

        CREATE TABLE pgjobs_callback_attempts (
            delivery_job_id bigint NOT NULL
                REFERENCES pgjobs_callbacks (delivery_job_id) ON DELETE CASCADE,
            attempt integer NOT NULL CHECK (attempt > 0),
            sent_at timestamptz NOT NULL,
            status_code integer,
            latency_ms double precision NOT NULL,
            error text,
            PRIMARY KEY (delivery_job_id, attempt)
        );
        COMMENT ON TABLE pgjobs_callback_attempts IS
            'Each HTTP attempt of a callback delivery: status code (NULL: no answer), latency, error.';

        CREATE FUNCTION pgjobs_defer_callback_v1()
            RETURNS trigger
            LANGUAGE plpgsql
        AS $$
        DECLARE
            target text;
            delivery bigint;
        BEGIN
            SELECT callback_url INTO target FROM pgjobs_jobs WHERE job_id = NEW.job_id;
            IF target IS NULL THEN
                RETURN NULL;
            END IF;
            SELECT ids[1] INTO delivery
              FROM procrastinate_defer_jobs_v1(ARRAY[
                       ROW('{QUEUE}', '{TASK}', 0, NULL, NULL,
                           jsonb_build_object('job_id', NEW.job_id, 'event_id', NEW.id), NULL)
                           ::procrastinate_job_to_defer_v1
                   ]) AS ids;
            INSERT INTO pgjobs_callbacks (delivery_job_id, job_id, event_id, status, url)
            VALUES (delivery, NEW.job_id, NEW.id, NEW.type::text, target);
            RETURN NULL;
        END;
        $$;
        COMMENT ON FUNCTION pgjobs_defer_callback_v1() IS
            'Defer the callback delivery of a job that reached a final state, in the same transaction.';

        CREATE TRIGGER pgjobs_defer_callback_v1
            AFTER INSERT ON procrastinate_events
            FOR EACH ROW
            WHEN (NEW.type IN ('succeeded', 'failed', 'cancelled', 'aborted'))
            EXECUTE FUNCTION pgjobs_defer_callback_v1();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER pgjobs_defer_callback_v1 ON procrastinate_events;
        DROP FUNCTION pgjobs_defer_callback_v1();
        DROP TABLE pgjobs_callback_attempts, pgjobs_callbacks;
        ALTER TABLE pgjobs_jobs DROP COLUMN callback_url;
        """
    )
