-- Maintenance: stalled-job rescue, worker pruning and retention.
-- Every statement here runs from a periodic maintenance job, possibly on several
-- workers at once: rows are claimed with FOR UPDATE SKIP LOCKED (one rescuer or
-- pruner wins each row, the others move on) and each transaction first bounds its
-- lock waits with maintenance_transaction_configure, so maintenance never queues behind
-- a worker or an API request.

-- maintenance_transaction_configure --
-- Bound the current transaction's lock waits (e.g. '2000ms') and turn JIT off for it.
-- JIT: on statistics that lag a burst of inserts, these statements' cost estimates
-- explode and each one would spend ~0.4 s compiling code for a 20 ms run.
SELECT set_config('lock_timeout', %(lock_timeout)s, true), set_config('jit', 'off', true);

-- rescue_needed --
-- Whether a rescue run has anything to do: a dead worker (to prune, or whose jobs to rescue)
-- or a running job whose worker is gone. One read without locks: on a healthy system the
-- rescue (every 10 s on some worker) costs this one round trip, not two transactions.
-- Same tests as job_lock_stalled and worker_prune_stalled, including the grace after a
-- Postgres restart.
SELECT pg_postmaster_start_time() < now() - make_interval(secs => %(stalled_after)s::float8)
       AND (EXISTS (SELECT 1 FROM procrastinate_workers worker
                     WHERE worker.last_heartbeat
                           < now() - make_interval(secs => %(stalled_after)s::float8))
            OR EXISTS (SELECT 1 FROM procrastinate_jobs job
                        WHERE job.status = 'doing' AND job.worker_id IS NULL)) AS needed;

-- job_lock_stalled --
-- Lock up to `limit` running jobs whose worker is dead, skipping rows another session holds.
-- A worker is dead when its row is gone (it unregistered after its last jobs, or was
-- pruned) or its heartbeat is older than `stalled_after` seconds. Nobody can heartbeat
-- while the server is down, so until the server has been up for `stalled_after`
-- nothing counts as stalled: live workers first get their chance to heartbeat again.
-- SKIP LOCKED: concurrent rescuers split the work instead of waiting on each other,
-- and a job a worker is finishing at this instant (its row locked) is left alone.
-- The attempt row, when there is one, says the worker ran the attempt to its end and
-- only the status write was lost.
SELECT job.id, job.status::text AS status, job.queue_name, job.task_name, job.priority,
       job.lock, job.queueing_lock, job.args, job.scheduled_at, job.attempts,
       job.abort_requested, job.worker_id, worker.last_heartbeat,
       extract(epoch FROM now() - worker.last_heartbeat)::float8 AS heartbeat_age_seconds,
       started.at AS started_at, attempt.outcome AS recorded_outcome
  FROM procrastinate_jobs job
  LEFT JOIN procrastinate_workers worker ON worker.id = job.worker_id
  LEFT JOIN pgjobs_attempts attempt
         ON attempt.job_id = job.id AND attempt.attempt = job.attempts + 1
  LEFT JOIN LATERAL (
      SELECT max(event.at) AS at
        FROM procrastinate_events event
       WHERE event.job_id = job.id AND event.type = 'started'
  ) started ON true
 WHERE job.status = 'doing'
   AND pg_postmaster_start_time()
       < now() - make_interval(secs => %(stalled_after)s::float8)
   AND (worker.id IS NULL
        OR worker.last_heartbeat < now() - make_interval(secs => %(stalled_after)s::float8))
 ORDER BY job.id
 LIMIT %(limit)s
   FOR UPDATE OF job SKIP LOCKED;

-- job_rescue_retry --
-- Put a locked stalled job back to todo with procrastinate's own retry and wake idle workers.
-- procrastinate_retry_job_v2 counts the lost attempt (attempts + 1) and its trigger
-- records 'deferred_for_retry'. An UPDATE fires no job-inserted NOTIFY, so
-- pgjobs_notify_queue_v1 sends it (delivered at commit) for an idle worker to pick the
-- job up at once.
SELECT procrastinate_retry_job_v2(%(job_id)s, %(retry_at)s, %(priority)s, %(queue)s, %(lock)s),
       pgjobs_notify_queue_v1(%(wake_queue)s, %(job_id)s);

-- job_rescue_finish --
-- Finish a locked stalled job for good: failed, aborted, or succeeded when its attempt says so.
SELECT procrastinate_finish_job_v1(%(job_id)s, %(status)s::procrastinate_job_status, false);

-- attempt_record_lost --
-- Record a rescued job's interrupted attempt as 'lost', with the reason as the job's last error.
-- An attempt the worker did record (it ran to its end, only the status write was lost)
-- is kept as it is (the conflict updates nothing), and then the job record is left alone
-- too; an 'unavailable' row (a worker lacking the task held the number) is replaced.
WITH attempt AS (
    INSERT INTO pgjobs_attempts AS existing (job_id, attempt, worker_id, started_at,
                                             finished_at, outcome, error_type, error_message)
    VALUES (%(job_id)s, %(attempt)s, %(worker_id)s, COALESCE(%(started_at)s, now()), now(),
            'lost', %(error_type)s, %(error_message)s)
    ON CONFLICT (job_id, attempt) DO UPDATE
       SET worker_id = EXCLUDED.worker_id, started_at = EXCLUDED.started_at,
           finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome,
           error_type = EXCLUDED.error_type, error_message = EXCLUDED.error_message,
           error_traceback = NULL
     WHERE existing.outcome = 'unavailable'
    RETURNING job_id
)
INSERT INTO pgjobs_jobs AS record (job_id, created_at, error_type, error_message)
SELECT attempt.job_id,
       COALESCE((SELECT min(event.at) FROM procrastinate_events event
                  WHERE event.job_id = attempt.job_id AND event.type = 'deferred'), now()),
       %(error_type)s, %(error_message)s
  FROM attempt
ON CONFLICT (job_id) DO UPDATE
   SET error_type = EXCLUDED.error_type,
       error_message = EXCLUDED.error_message,
       error_traceback = NULL,
       updated_at = now()
RETURNING job_id;

-- worker_prune_stalled --
-- Delete up to `limit` dead workers (same test as job_lock_stalled) that run no job any more.
-- Their running jobs are rescued first, so each lost attempt still names its worker.
-- Deleting a worker sets worker_id to NULL on all its past jobs (procrastinate's
-- foreign key, without an index for it): a seq scan of procrastinate_jobs per worker,
-- which is why the caller prunes a few per run under a lock timeout.
DELETE FROM procrastinate_workers
 WHERE id IN (
       SELECT worker.id
         FROM procrastinate_workers worker
        WHERE worker.last_heartbeat < now() - make_interval(secs => %(stalled_after)s::float8)
          AND pg_postmaster_start_time()
              < now() - make_interval(secs => %(stalled_after)s::float8)
          AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs job
                           WHERE job.worker_id = worker.id AND job.status = 'doing')
        ORDER BY worker.id
        LIMIT %(limit)s
          FOR UPDATE SKIP LOCKED)
RETURNING id;

-- job_prune_finished --
-- Delete the expired finished jobs among the `batch_size` jobs after `after_id`, in id order.
-- A job's age counts from its last final event (succeeded/failed/cancelled/aborted);
-- its events and pgjobs rows go with it (ON DELETE CASCADE). The scan is a bounded
-- slice of the primary key, so one call is one short transaction whatever the table
-- size; the caller walks the slices and stops at `done`: the end of the table, or a
-- slice ending on a job created after now - youngest_age (ids grow with creation
-- time, and a job cannot finish before it was created, so nothing further qualifies).
-- SKIP LOCKED leaves alone a job someone is retrying at this instant.
WITH slice AS (
    SELECT id, status
      FROM procrastinate_jobs
     WHERE id > %(after_id)s
     ORDER BY id
     LIMIT %(batch_size)s
), expired AS (
    SELECT slice.id
      FROM slice
      CROSS JOIN LATERAL (
          SELECT max(event.at) AS at
            FROM procrastinate_events event
           WHERE event.job_id = slice.id
             AND event.type IN ('succeeded', 'failed', 'cancelled', 'aborted')
      ) finished
     WHERE finished.at < now() - CASE slice.status
               WHEN 'succeeded' THEN %(succeeded_age)s::interval
               WHEN 'failed' THEN %(failed_age)s::interval
               WHEN 'cancelled' THEN %(cancelled_age)s::interval
               WHEN 'aborted' THEN %(aborted_age)s::interval
           END
), locked AS (
    -- LATERAL: one primary-key lookup per expired job, whatever the table statistics say
    -- (a semi-join here turns into a scan of the whole table on stale statistics).
    SELECT candidate.id
      FROM expired
     CROSS JOIN LATERAL (
         SELECT job.id
           FROM procrastinate_jobs job
          WHERE job.id = expired.id
            AND job.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
            FOR UPDATE SKIP LOCKED
     ) candidate
), deleted AS (
    -- = ANY(ARRAY(...)): primary-key lookups again, never a hash join over the table
    DELETE FROM procrastinate_jobs job
     WHERE job.id = ANY (ARRAY(SELECT id FROM locked))
    RETURNING job.status::text AS status
)
SELECT (SELECT max(id) FROM slice) AS last_id,
       (SELECT count(*) FROM slice) < %(batch_size)s
       OR COALESCE((SELECT min(event.at) FROM procrastinate_events event
                     WHERE event.job_id = (SELECT max(id) FROM slice))
                   >= now() - %(youngest_age)s::interval, false) AS done,
       (SELECT COALESCE(json_object_agg(status, deleted_count), '{}')
          FROM (SELECT status, count(*) AS deleted_count FROM deleted GROUP BY status) counted
       ) AS deleted;

-- job_prune_maintenance --
-- Delete up to `batch_size` succeeded runs of pgjobs' maintenance tasks older than `max_age`.
-- They live alone in their queue, found through procrastinate's queue_name index,
-- so they can be kept for hours instead of days without scanning the table.
WITH locked AS (
    SELECT job.id
      FROM procrastinate_jobs job
     CROSS JOIN LATERAL (
         SELECT max(event.at) AS at
           FROM procrastinate_events event
          WHERE event.job_id = job.id AND event.type = 'succeeded'
     ) finished
     WHERE job.queue_name = %(queue)s
       AND job.status = 'succeeded'
       AND finished.at < now() - %(max_age)s::interval
     ORDER BY job.id
     LIMIT %(batch_size)s
       FOR UPDATE OF job SKIP LOCKED
), deleted AS (
    DELETE FROM procrastinate_jobs job
     WHERE job.id = ANY (ARRAY(SELECT id FROM locked))
    RETURNING job.id
)
SELECT count(*) AS deleted FROM deleted;
