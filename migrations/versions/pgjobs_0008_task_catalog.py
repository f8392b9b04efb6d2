"""Bring your own tasks: the task catalog, unavailable attempts, and ``pgjobs_enqueue_v1``.

* ``pgjobs_task_catalog``: every worker and API process publishes the tasks it
  has (name, default queue and priority, cron, the JSON Schema of the arguments
  and its hash, which process, when last seen). The API validates jobs for tasks
  it does not import against it; ``pgjobs_enqueue_v1`` routes by it.
* ``pgjobs_attempts.outcome`` may be ``unavailable``: a worker took a job whose
  task it does not have and put it back in its queue (docs/tasks.md). Such a
  row does not count as a run: it carries the number of the attempt that is
  still to come, and the worker that does run it replaces the row.
* ``pgjobs_enqueue_v1(task, args, ...)``: create a job from any driver, in the
  caller's transaction, with the effects of ``jobs.enqueue`` (procrastinate's
  defer function, so its triggers NOTIFY workers and record the ``deferred``
  event, plus pgjobs' record of the job).

Revision ID: pgjobs_0008
Revises: pgjobs_0007
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0008"
down_revision = "pgjobs_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pgjobs_task_catalog (
            process_id uuid NOT NULL,
            task_name text NOT NULL,
            schema_hash text NOT NULL,
            args_schema jsonb NOT NULL,
            queue_name text NOT NULL,
            priority integer NOT NULL,
            cron text,
            description text NOT NULL DEFAULT '',
            retry jsonb,
            time_limit_seconds double precision,
            soft_time_limit_seconds double precision,
            process_kind text NOT NULL CHECK (process_kind IN ('worker', 'api')),
            host text NOT NULL,
            pid integer NOT NULL,
            worker_queues text[],
            task_modules text[] NOT NULL DEFAULT '{}',
            published_at timestamptz NOT NULL DEFAULT now(),
            last_seen_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (process_id, task_name)
        );
        COMMENT ON TABLE pgjobs_task_catalog IS
            'The tasks each worker and API process has, published at its start and refreshed while it runs (last_seen_at).';
        COMMENT ON COLUMN pgjobs_task_catalog.schema_hash IS
            'sha256 of the canonical JSON Schema of the arguments: two values for one task mean two versions of its code are deployed.';
        COMMENT ON COLUMN pgjobs_task_catalog.worker_queues IS
            'Queues the worker takes jobs from (NULL: every queue, or an API process).';
        CREATE INDEX pgjobs_task_catalog_task_name_idx ON pgjobs_task_catalog (task_name);

        ALTER TABLE pgjobs_attempts
            DROP CONSTRAINT pgjobs_attempts_outcome_check,
            ADD CONSTRAINT pgjobs_attempts_outcome_check
                CHECK (outcome IN ('succeeded', 'failed', 'aborted', 'lost', 'unavailable')) NOT VALID;
        ALTER TABLE pgjobs_attempts VALIDATE CONSTRAINT pgjobs_attempts_outcome_check;
        COMMENT ON COLUMN pgjobs_attempts.outcome IS
            'succeeded, failed or aborted (written by the worker); lost: the worker died mid-attempt and the stalled-job rescue closed it; unavailable: the worker does not have the task and put the job back (the attempt is still to come).';

        CREATE FUNCTION pgjobs_enqueue_v1(
            task text,
            args jsonb DEFAULT '{}'::jsonb,
            queue text DEFAULT NULL,
            priority integer DEFAULT NULL,
            schedule_at timestamptz DEFAULT NULL,
            lock text DEFAULT NULL,
            queueing_lock text DEFAULT NULL,
            time_limit double precision DEFAULT NULL,
            soft_time_limit double precision DEFAULT NULL,
            created_by text DEFAULT 'sql'
        ) RETURNS bigint
        LANGUAGE plpgsql
        AS $function$
        DECLARE
            published pgjobs_task_catalog%ROWTYPE;
            target_queue text;
            target_priority integer;
            new_job_id bigint;
        BEGIN
            -- The task must be one some worker or API process has published: a typo
            -- fails here, in the caller's transaction, instead of waiting in a queue.
            -- Its most recently seen version gives the default queue and priority.
            SELECT * INTO published
              FROM pgjobs_task_catalog catalog
             WHERE catalog.task_name = pgjobs_enqueue_v1.task
             ORDER BY catalog.last_seen_at DESC
             LIMIT 1;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'pgjobs_enqueue_v1: unknown task %', quote_literal(pgjobs_enqueue_v1.task)
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'known tasks: ' || COALESCE(
                              (SELECT string_agg(DISTINCT catalog.task_name, ', ' ORDER BY catalog.task_name)
                                 FROM pgjobs_task_catalog catalog), '(none published yet: start a worker)');
            END IF;
            IF args IS NULL OR jsonb_typeof(args) <> 'object' THEN
                RAISE EXCEPTION 'pgjobs_enqueue_v1: args must be a JSON object'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            target_queue := COALESCE(pgjobs_enqueue_v1.queue, published.queue_name);
            target_priority := COALESCE(pgjobs_enqueue_v1.priority, published.priority);
            -- the rules of jobs.tasks.registry.check_queue / check_priority
            IF target_queue !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$' THEN
                RAISE EXCEPTION 'pgjobs_enqueue_v1: queue must be 1-40 characters of letters, digits and _.:- (starting alphanumeric)'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF target_priority NOT BETWEEN -1000 AND 1000 THEN
                RAISE EXCEPTION 'pgjobs_enqueue_v1: priority must be between -1000 and 1000'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF time_limit IS NOT NULL AND NOT time_limit > 0
               OR soft_time_limit IS NOT NULL AND NOT soft_time_limit > 0 THEN
                RAISE EXCEPTION 'pgjobs_enqueue_v1: time limits must be > 0 seconds'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF soft_time_limit > COALESCE(time_limit, published.time_limit_seconds) THEN
                RAISE EXCEPTION 'pgjobs_enqueue_v1: soft_time_limit must not exceed the hard time limit'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            -- procrastinate's own defer: its triggers NOTIFY the queue's workers at commit
            -- and record the 'deferred' event, exactly as for jobs created over HTTP.
            new_job_id := (procrastinate_defer_jobs_v1(ARRAY[
                ROW(target_queue, pgjobs_enqueue_v1.task, target_priority, pgjobs_enqueue_v1.lock,
                    pgjobs_enqueue_v1.queueing_lock, args, schedule_at)::procrastinate_job_to_defer_v1
            ]))[1];
            INSERT INTO pgjobs_jobs (job_id, created_by, time_limit_seconds, soft_time_limit_seconds)
            VALUES (new_job_id, pgjobs_enqueue_v1.created_by, time_limit, soft_time_limit);
            RETURN new_job_id;
        END;
        $function$;
        COMMENT ON FUNCTION pgjobs_enqueue_v1 IS
            'Create a job in the caller''s transaction (docs/enqueue-from-sql.md); the worker validates the arguments before the task runs.';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION pgjobs_enqueue_v1;
        DELETE FROM pgjobs_attempts WHERE outcome = 'unavailable';
        ALTER TABLE pgjobs_attempts
            DROP CONSTRAINT pgjobs_attempts_outcome_check,
            ADD CONSTRAINT pgjobs_attempts_outcome_check
                CHECK (outcome IN ('succeeded', 'failed', 'aborted', 'lost'));
        COMMENT ON COLUMN pgjobs_attempts.outcome IS
            'succeeded, failed or aborted (written by the worker), or lost: the worker died mid-attempt and the stalled-job rescue closed it.';
        DROP TABLE pgjobs_task_catalog;
        """
    )
