-- The worker engine's two statements (jobs/worker/engine.py): each calls one versioned
-- SQL function of migration pgjobs_0011, where the locking choices are explained.

-- job_claim --
-- Claim up to max_jobs runnable jobs for a worker (todo -> doing), with their own time limits.
SELECT id, queue_name, task_name, priority, lock, queueing_lock, args, status::text AS status,
       scheduled_at, attempts, abort_requested, worker_id, time_limit_seconds,
       soft_time_limit_seconds
  FROM pgjobs_claim_jobs_v1(%(queues)s::character varying[], %(worker_id)s, %(max_jobs)s);

-- job_complete --
-- Write a batch of attempt outcomes (status change, attempt, result or error) in one commit.
SELECT job_id, status::text AS status
  FROM pgjobs_complete_jobs_v1(%(worker_id)s, %(outcomes)s::jsonb);

-- job_release --
-- Put jobs a stopping worker claimed but never started back in their queue, and wake workers.
-- doing -> todo: procrastinate's trigger records 'deferred_for_retry'; no attempt ran, so
-- none is recorded and the attempt count is unchanged. An UPDATE fires no job-inserted
-- NOTIFY: pgjobs_notify_queue_v1, once per queue, wakes an idle worker to take them at once.
WITH released AS (
    UPDATE procrastinate_jobs
       SET status = 'todo', worker_id = NULL
     WHERE id = ANY(%(job_ids)s::bigint[]) AND status = 'doing' AND worker_id = %(worker_id)s
    RETURNING id, queue_name
)
SELECT pgjobs_notify_queue_v1(queue_name, min(id)) FROM released GROUP BY queue_name;
