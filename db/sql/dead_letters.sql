-- Dead letters: failed jobs. procrastinate puts a job that has retries left back in
-- todo, so a job in failed has exhausted them: failed is final until someone retries it.
-- A dead letter's failed_at is its latest 'failed' event (or, for a job failed
-- without one, its latest event of any kind). Every filter is "NULL means any", so
-- one plan shape serves every combination; list and retry share the same filters.

-- dead_letter_list --
-- A page of dead letters with their last error, most recently failed first, keyset-paginated on (failed_at, id).
SELECT job.id, job.queue_name AS queue, job.task_name AS task, job.priority, job.args,
       job.attempts, failure.failed_at,
       COALESCE(record.created_at, failure.deferred_at) AS created_at,
       record.created_by, record.batch_id, record.error_type, record.error_message
  FROM procrastinate_jobs job
  LEFT JOIN pgjobs_jobs record ON record.job_id = job.id
  CROSS JOIN LATERAL (
      SELECT COALESCE(max(event.at) FILTER (WHERE event.type = 'failed'), max(event.at),
                      'epoch') AS failed_at,
             min(event.at) FILTER (WHERE event.type = 'deferred') AS deferred_at
        FROM procrastinate_events event
       WHERE event.job_id = job.id
  ) failure
 WHERE job.status = 'failed'
   AND (%(task)s::text IS NULL OR job.task_name = %(task)s)
   AND (%(queue)s::text IS NULL OR job.queue_name = %(queue)s)
   AND (%(error_type)s::text IS NULL OR record.error_type = %(error_type)s)
   AND (%(failed_after)s::timestamptz IS NULL OR failure.failed_at >= %(failed_after)s)
   AND (%(failed_before)s::timestamptz IS NULL OR failure.failed_at < %(failed_before)s)
   AND (%(before_failed_at)s::timestamptz IS NULL
        OR (failure.failed_at, job.id) < (%(before_failed_at)s, %(before_id)s::bigint))
 ORDER BY failure.failed_at DESC, job.id DESC
 LIMIT %(limit)s;

-- dead_letter_retry --
-- Put every dead letter matching the filters back in todo: one statement however many (10,000 jobs, one round trip).
-- The matched rows are locked FOR UPDATE OF job; a row a concurrent retry moved
-- meanwhile is re-checked by Postgres after the wait, no longer failed, and left out,
-- so no job is retried twice. procrastinate's status trigger records the 'retried'
-- event of every job (failed -> todo), exactly as for one job.
-- procrastinate's unique index allows one queued job per queueing lock: a dead
-- letter whose lock a queued job holds, and all but the newest of dead letters
-- sharing a lock, stay failed and count as skipped (matched - eligible).
-- An UPDATE fires no job-inserted NOTIFY; pgjobs_notify_queue_v1 once per queue wakes
-- idle workers (a worker only needs to know its queue has work).
-- With %(dry_run)s nothing changes and the counts say what a retry would do.
WITH matched AS (
    SELECT job.id, job.queue_name, job.queueing_lock
      FROM procrastinate_jobs job
      LEFT JOIN pgjobs_jobs record ON record.job_id = job.id
      CROSS JOIN LATERAL (
          SELECT COALESCE(max(event.at) FILTER (WHERE event.type = 'failed'), max(event.at),
                          'epoch') AS failed_at
            FROM procrastinate_events event
           WHERE event.job_id = job.id
      ) failure
     WHERE job.status = 'failed'
       AND (%(job_ids)s::bigint[] IS NULL OR job.id = ANY(%(job_ids)s::bigint[]))
       AND (%(task)s::text IS NULL OR job.task_name = %(task)s)
       AND (%(queue)s::text IS NULL OR job.queue_name = %(queue)s)
       AND (%(error_type)s::text IS NULL OR record.error_type = %(error_type)s)
       AND (%(failed_after)s::timestamptz IS NULL OR failure.failed_at >= %(failed_after)s)
       AND (%(failed_before)s::timestamptz IS NULL OR failure.failed_at < %(failed_before)s)
       FOR UPDATE OF job
), eligible AS (
    SELECT ranked.id, ranked.queue_name
      FROM (SELECT matched.*,
                   row_number() OVER (PARTITION BY queueing_lock ORDER BY id DESC) AS rank
              FROM matched) ranked
     WHERE ranked.queueing_lock IS NULL
        OR (ranked.rank = 1
            AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs queued
                             WHERE queued.queueing_lock = ranked.queueing_lock
                               AND queued.status = 'todo'))
), retried AS (
    UPDATE procrastinate_jobs job
       SET status = 'todo', abort_requested = false, scheduled_at = NULL, worker_id = NULL
      FROM eligible
     WHERE job.id = eligible.id
       AND NOT %(dry_run)s::boolean
    RETURNING job.id, job.queue_name
), notified AS (
    SELECT pgjobs_notify_queue_v1(queue_name, min(id)) FROM retried GROUP BY queue_name
)
SELECT (SELECT count(*) FROM matched) AS matched,
       (SELECT count(*) FROM eligible) AS eligible,
       (SELECT count(*) FROM retried) AS retried,
       (SELECT count(*) FROM notified) AS notifications;
