"""Live events: NOTIFY every procrastinate event on channel ``pgjobs_events_v1``.

procrastinate's own triggers write a ``procrastinate_events`` row for every state
change of a job (deferred, started, retried, failed, ...). pgjobs adds one trigger
object of its own, ``pgjobs_notify_event_v1``, AFTER INSERT on that table: it reads
the job's queue and task (a primary-key lookup) and sends them with the event id,
job id, type and time in one ``pg_notify``. The notification is
delivered when the writing transaction commits, so listeners see exactly the
committed state changes, in commit order.

It adds a trigger and a function and changes none of procrastinate's table
definitions: dropping them (downgrade) leaves procrastinate's schema byte for byte
as it was. The channel and function names are versioned (``_v1``) so a rolling
deploy can run a ``_v2`` next to it.

Revision ID: pgjobs_0004
Revises: pgjobs_0003
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0004"
down_revision = "pgjobs_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION pgjobs_notify_event_v1()
            RETURNS trigger
            LANGUAGE plpgsql
        AS $$
        DECLARE
            job_queue text;
            job_task text;
        BEGIN
            SELECT queue_name, task_name
              INTO job_queue, job_task
              FROM procrastinate_jobs
             WHERE id = NEW.job_id;
            PERFORM pg_notify(
                'pgjobs_events_v1',
                json_build_object(
                    'id', NEW.id, 'job_id', NEW.job_id, 'type', NEW.type, 'at', NEW.at,
                    'queue', job_queue, 'task', job_task
                )::text
            );
            RETURN NULL;
        END;
        $$;
        COMMENT ON FUNCTION pgjobs_notify_event_v1() IS
            'NOTIFY pgjobs_events_v1 with each procrastinate event and its job''s queue and task (live updates).';

        CREATE TRIGGER pgjobs_notify_event_v1
            AFTER INSERT ON procrastinate_events
            FOR EACH ROW EXECUTE FUNCTION pgjobs_notify_event_v1();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER pgjobs_notify_event_v1 ON procrastinate_events;
        DROP FUNCTION pgjobs_notify_event_v1();
        """
    )
