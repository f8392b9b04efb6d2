"""The worker engine: claim many jobs in one statement, complete many in one statement.

``pgjobs_claim_jobs_v1`` is procrastinate's ``procrastinate_fetch_job_v2`` for
up to ``max_jobs`` jobs at once, returning each job's own time limits with it;
``pgjobs_complete_jobs_v1`` writes a batch of outcomes (the status change
procrastinate's ``procrastinate_finish_job_v1`` / ``procrastinate_retry_job_v2``
make, the attempt in ``pgjobs_attempts``, the result or error in
``pgjobs_jobs``) in one statement, so many jobs share one commit. Both go
through procrastinate's own row triggers (``started``, ``succeeded``,
``deferred_for_retry``... events) and change no procrastinate table.

Each is one SQL function, versioned (``_v1``) so a rolling deploy can run a
``_v2`` beside it, and shaped to grow: the claim's ``candidate`` step is where
queue pauses, concurrency and rate limits filter (``FOR UPDATE SKIP LOCKED``
stays the last word), and the completion takes its outcomes as a JSON array
whose objects can gain fields (a workflow's children to release, a webhook to
record) without a new signature.

Revision ID: pgjobs_0011
Revises: pgjobs_0010
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0011"
down_revision = "pgjobs_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION pgjobs_claim_jobs_v1(
            target_queue_names character varying[], p_worker_id bigint, max_jobs integer
        )
            RETURNS TABLE (
                id bigint, queue_name character varying, task_name character varying,
                priority integer, lock text, queueing_lock text, args jsonb,
                status procrastinate_job_status, scheduled_at timestamp with time zone,
                attempts integer, abort_requested boolean, worker_id bigint,
                time_limit_seconds double precision, soft_time_limit_seconds double precision
            )
            LANGUAGE plpgsql
        AS $$
        #variable_conflict use_column
        BEGIN
            -- plpgsql, not sql: its plan is prepared once per connection, not per call.
            RETURN QUERY
            WITH candidate AS (
                -- The selection of procrastinate_fetch_job_v2, with LIMIT max_jobs instead
                -- of 1: runnable (todo, due), in the worker's queues, by priority then id,
                -- and never a job whose lock is held by a running job or by an earlier
                -- queued one. Only the first queued job of a lock passes that rule, so
                -- one claim never takes two jobs sharing a lock. FOR UPDATE SKIP LOCKED:
                -- concurrent claims split the queue instead of waiting on each other, and
                -- rows skipped do not count towards the LIMIT (LockRows runs under Limit).
                -- Flow control (pauses, concurrency and rate limits) adds its filters here.
                SELECT jobs.id
                  FROM procrastinate_jobs AS jobs
                 WHERE jobs.status = 'todo'
                   AND (target_queue_names IS NULL OR jobs.queue_name = ANY(target_queue_names))
                   AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())
                   AND NOT EXISTS (
                       SELECT 1
                         FROM procrastinate_jobs AS other_jobs
                        WHERE jobs.lock IS NOT NULL
                          AND other_jobs.lock = jobs.lock
                          AND (other_jobs.status = 'doing'
                               OR (other_jobs.status = 'todo'
                                   AND (other_jobs.priority > jobs.priority
                                        OR (other_jobs.priority = jobs.priority
                                            AND other_jobs.id < jobs.id))))
                   )
                 ORDER BY jobs.priority DESC, jobs.id ASC
                 LIMIT max_jobs
                   FOR UPDATE OF jobs SKIP LOCKED
            ), claimed AS (
                -- todo -> doing: procrastinate's trigger records the 'started' event.
                UPDATE procrastinate_jobs AS jobs
                   SET status = 'doing', worker_id = p_worker_id
                  FROM candidate
                 WHERE jobs.id = candidate.id
                RETURNING jobs.*
            )
            SELECT claimed.id, claimed.queue_name, claimed.task_name, claimed.priority,
                   claimed.lock, claimed.queueing_lock, claimed.args, claimed.status,
                   claimed.scheduled_at, claimed.attempts, claimed.abort_requested,
                   claimed.worker_id, record.time_limit_seconds, record.soft_time_limit_seconds
              FROM claimed
              LEFT JOIN pgjobs_jobs AS record ON record.job_id = claimed.id
             ORDER BY claimed.priority DESC, claimed.id ASC;
        END;
        $$;
        COMMENT ON FUNCTION pgjobs_claim_jobs_v1(character varying[], bigint, integer) IS
            'Claim up to max_jobs runnable jobs for a worker (todo -> doing), with their own time limits.';

        CREATE FUNCTION pgjobs_complete_jobs_v1(p_worker_id bigint, outcomes jsonb)
            RETURNS TABLE (job_id bigint, status procrastinate_job_status)
            LANGUAGE plpgsql
        AS $$
        #variable_conflict use_column
        BEGIN
            -- One element of outcomes per finished attempt:
            --   job_id, attempt (the job's attempts + 1 when it was claimed),
            --   status: 'succeeded' | 'failed' | 'aborted' to finish the job, 'todo' to retry it,
            --   retry_at, priority, queue, lock (a retry's changes; NULL keeps the value),
            --   delete_job (finish by deleting the job: procrastinate's delete_jobs option),
            --   outcome: the attempt's 'succeeded' | 'failed' | 'aborted' (NULL: the worker
            --   middleware saw no attempt, e.g. an unknown task: no attempt, no record),
            --   started_at, result, error_type, error_message, error_traceback.
            -- An outcome applies only to the attempt it reports: the job still 'doing', at
            -- that attempt, and this worker's (or nobody's: a pruned worker's row). A job
            -- rescued meanwhile (declared lost, retried, maybe running elsewhere) is left
            -- alone and not returned; the caller logs it.
            RETURN QUERY
            WITH outcome AS (
                SELECT *
                  FROM jsonb_to_recordset(outcomes) AS o(
                        job_id bigint, attempt integer, status procrastinate_job_status,
                        retry_at timestamp with time zone, priority integer,
                        queue character varying, lock text, delete_job boolean,
                        outcome text, started_at timestamp with time zone, result jsonb,
                        error_type text, error_message text, error_traceback text)
            ), locked AS (
                -- Row locks in id order, as the rescue takes them: no deadlock between the two.
                SELECT jobs.id, jobs.abort_requested
                  FROM procrastinate_jobs AS jobs
                  JOIN outcome ON outcome.job_id = jobs.id
                 WHERE jobs.status = 'doing'
                   AND jobs.attempts + 1 = outcome.attempt
                   AND (jobs.worker_id = p_worker_id OR jobs.worker_id IS NULL)
                 ORDER BY jobs.id
                   FOR UPDATE OF jobs
            ), decided AS (
                -- procrastinate_retry_job_v2 fails a job to retry whose abort was requested.
                SELECT outcome.*,
                       CASE WHEN outcome.status = 'todo' AND locked.abort_requested
                            THEN 'failed'::procrastinate_job_status
                            ELSE outcome.status END AS new_status,
                       outcome.status = 'todo' AND NOT locked.abort_requested AS retried,
                       COALESCE(outcome.delete_job, false) AND outcome.status <> 'todo'
                           AS deleted
                  FROM outcome
                  JOIN locked ON locked.id = outcome.job_id
            ), removed AS (
                DELETE FROM procrastinate_jobs AS jobs
                 USING decided
                 WHERE jobs.id = decided.job_id AND decided.deleted
                RETURNING jobs.id, decided.new_status
            ), updated AS (
                -- The updates of procrastinate_finish_job_v1 and procrastinate_retry_job_v2;
                -- their triggers record the succeeded/failed/aborted/deferred_for_retry events.
                UPDATE procrastinate_jobs AS jobs
                   SET status = decided.new_status,
                       attempts = CASE WHEN decided.new_status = 'failed'
                                            AND decided.status = 'todo'
                                       THEN jobs.attempts ELSE jobs.attempts + 1 END,
                       abort_requested = CASE WHEN decided.retried THEN jobs.abort_requested
                                              WHEN decided.status = 'todo' THEN jobs.abort_requested
                                              ELSE false END,
                       scheduled_at = CASE WHEN decided.retried
                                           THEN COALESCE(decided.retry_at, now())
                                           ELSE jobs.scheduled_at END,
                       priority = CASE WHEN decided.retried
                                       THEN COALESCE(decided.priority, jobs.priority)
                                       ELSE jobs.priority END,
                       queue_name = CASE WHEN decided.retried
                                         THEN COALESCE(decided.queue, jobs.queue_name)
                                         ELSE jobs.queue_name END,
                       lock = CASE WHEN decided.retried
                                   THEN COALESCE(decided.lock, jobs.lock)
                                   ELSE jobs.lock END
                  FROM decided
                 WHERE jobs.id = decided.job_id AND NOT decided.deleted
                RETURNING jobs.id, jobs.status
            ), attempt AS (
                INSERT INTO pgjobs_attempts AS recorded (
                    job_id, attempt, worker_id, started_at, finished_at, outcome,
                    error_type, error_message, error_traceback)
                SELECT decided.job_id, decided.attempt, p_worker_id,
                       COALESCE(decided.started_at, now()), now(), decided.outcome,
                       decided.error_type, decided.error_message, decided.error_traceback
                  FROM decided
                 WHERE NOT decided.deleted AND decided.outcome IS NOT NULL
                ON CONFLICT ON CONSTRAINT pgjobs_attempts_pkey DO UPDATE
                   SET worker_id = EXCLUDED.worker_id, started_at = EXCLUDED.started_at,
                       finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome,
                       error_type = EXCLUDED.error_type, error_message = EXCLUDED.error_message,
                       error_traceback = EXCLUDED.error_traceback
            ), record AS (
                -- Jobs deferred outside pgjobs (periodic jobs, plain procrastinate defers)
                -- get their record here, created_at taken from their 'deferred' event.
                INSERT INTO pgjobs_jobs AS record (
                    job_id, created_at, result, error_type, error_message, error_traceback)
                SELECT decided.job_id,
                       COALESCE((SELECT min(event.at) FROM procrastinate_events AS event
                                  WHERE event.job_id = decided.job_id
                                    AND event.type = 'deferred'), now()),
                       decided.result, decided.error_type, decided.error_message,
                       decided.error_traceback
                  FROM decided
                 WHERE NOT decided.deleted AND decided.outcome IS NOT NULL
                ON CONFLICT ON CONSTRAINT pgjobs_jobs_pkey DO UPDATE
                   SET result = EXCLUDED.result,
                       error_type = EXCLUDED.error_type,
                       error_message = EXCLUDED.error_message,
                       error_traceback = EXCLUDED.error_traceback,
                       progress_percent = CASE WHEN EXCLUDED.error_type IS NULL THEN 100
                                               ELSE record.progress_percent END,
                       updated_at = now()
            )
            SELECT updated.id, updated.status FROM updated
            UNION ALL
            SELECT removed.id, removed.new_status FROM removed;
        END;
        $$;
        COMMENT ON FUNCTION pgjobs_complete_jobs_v1(bigint, jsonb) IS
            'Write a batch of attempt outcomes: each job''s status change, attempt and result or error.';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION pgjobs_complete_jobs_v1(bigint, jsonb);
        DROP FUNCTION pgjobs_claim_jobs_v1(character varying[], bigint, integer);
        """
    )
