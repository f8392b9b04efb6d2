-- Jobs taken by a worker that does not have their task (jobs/worker/unavailable.py).

-- job_unavailable_record --
-- Record that this worker lacks the job's task, as the attempt still to come; decide its fate.
-- The job row is locked in 'doing' by this worker (no one else can finish it meanwhile).
-- The attempt's number is the next run's (procrastinate's attempts is not counted up:
-- the task never ran, so its retry budget is untouched); a later worker that lacks the
-- task too updates the same row, keeping started_at, the moment the first worker lacked
-- it, from which `give_up_after` counts. The worker that runs the task replaces the row
-- with the real outcome. Returns the outcome ('unavailable': back to the queue; 'failed':
-- waited too long) and when to offer the job again: a quarter of the time waited so far,
-- between `min_delay` and `max_delay` seconds, so the same worker never spins on it.
WITH job AS (
    SELECT id, attempts
      FROM procrastinate_jobs
     WHERE id = %(job_id)s AND status = 'doing'
       FOR UPDATE
), decided AS (
    SELECT job.id, job.attempts + 1 AS attempt,
           COALESCE((SELECT attempt.started_at
                       FROM pgjobs_attempts attempt
                      WHERE attempt.job_id = job.id AND attempt.attempt = job.attempts + 1
                        AND attempt.outcome = 'unavailable'), now()) AS since
      FROM job
), outcome AS (
    SELECT decided.*,
           now() - since >= make_interval(secs => %(give_up_after)s::float8) AS give_up
      FROM decided
), attempt AS (
    INSERT INTO pgjobs_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome,
                                 error_type, error_message)
    SELECT id, attempt, %(worker_id)s, since, now(),
           CASE WHEN give_up THEN 'failed' ELSE 'unavailable' END, %(error_type)s,
           CASE WHEN give_up THEN %(failed_message)s ELSE %(waiting_message)s END
      FROM outcome
    ON CONFLICT (job_id, attempt) DO UPDATE
       SET worker_id = EXCLUDED.worker_id, finished_at = EXCLUDED.finished_at,
           outcome = EXCLUDED.outcome, error_type = EXCLUDED.error_type,
           error_message = EXCLUDED.error_message, error_traceback = NULL
    RETURNING job_id, outcome, started_at, error_message
), recorded AS (
    INSERT INTO pgjobs_jobs AS record (job_id, created_at, error_type, error_message)
    SELECT attempt.job_id,
           COALESCE((SELECT min(event.at) FROM procrastinate_events event
                      WHERE event.job_id = attempt.job_id AND event.type = 'deferred'), now()),
           %(error_type)s, attempt.error_message
      FROM attempt
    ON CONFLICT (job_id) DO UPDATE
       SET error_type = EXCLUDED.error_type, error_message = EXCLUDED.error_message,
           error_traceback = NULL, updated_at = now()
)
SELECT job_id, outcome, started_at AS since,
       now() + make_interval(secs => least(%(max_delay)s::float8, greatest(
           %(min_delay)s::float8, extract(epoch FROM now() - started_at)::float8 / 4))) AS retry_at
  FROM attempt;

-- job_unavailable_requeue --
-- Put the job back in its queue, not before retry_at, for a worker that has its task.
-- Unlike procrastinate_retry_job_v2 it leaves attempts alone (nothing ran); the status
-- trigger records 'deferred_for_retry'. No NOTIFY: the job is not due yet, and workers
-- poll for jobs coming due.
UPDATE procrastinate_jobs
   SET status = 'todo', worker_id = NULL, scheduled_at = %(retry_at)s
 WHERE id = %(job_id)s AND status = 'doing';

-- job_unavailable_fail --
-- No worker with the task took the job in time: fail it (a dead letter, retried by hand).
SELECT procrastinate_finish_job_v1(%(job_id)s, 'failed', false);
