"""Live events: one NOTIFY per transaction (``pgjobs_events_v2``), not one per event row.

``pgjobs_notify_event_v1`` looked up each new event's job and sent it as its own
notification: three lookups and three notifications per job, each written to
the notification queue under Postgres' global notify lock at commit, whether
or not anyone listened. Its successor sends, for every event row, the same
payload within a transaction: the transaction's id. Postgres delivers identical
notifications of one transaction once, so a transaction that claims or
completes a hundred jobs notifies once, and the trigger does no lookup.

A listener (``jobs/live/hub.py``) reads the new events itself, in one query
that also returns its snapshot; a notification whose transaction that snapshot
already saw needs no read. So an API process reads at most once per committing
transaction, usually far less under load, and a database with no API process
pays one notification per transaction.

Downgrade restores ``pgjobs_notify_event_v1`` (API processes of the previous
version listen on ``pgjobs_events_v1``).

Revision ID: pgjobs_0012
Revises: pgjobs_0011
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0012"
down_revision = "pgjobs_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION pgjobs_notify_events_v2()
            RETURNS trigger
            LANGUAGE plpgsql
        AS $$
        BEGIN
            -- The same channel and payload for every event of the transaction:
            -- Postgres queues it once (duplicates within a transaction are dropped).
            PERFORM pg_notify('pgjobs_events_v2', pg_current_xact_id()::text);
            RETURN NULL;
        END;
        $$;
        COMMENT ON FUNCTION pgjobs_notify_events_v2() IS
            'NOTIFY pgjobs_events_v2 once per transaction that writes procrastinate events (payload: its txid).';

        CREATE TRIGGER pgjobs_notify_events_v2
            AFTER INSERT ON procrastinate_events
            FOR EACH ROW EXECUTE FUNCTION pgjobs_notify_events_v2();

        DROP TRIGGER pgjobs_notify_event_v1 ON procrastinate_events;
        DROP FUNCTION pgjobs_notify_event_v1();
        """
    )


def downgrade() -> None:
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

        DROP TRIGGER pgjobs_notify_events_v2 ON procrastinate_events;
        DROP FUNCTION pgjobs_notify_events_v2();
        """
    )
