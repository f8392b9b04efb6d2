-- Observability: live-event replay, metrics, health and dashboard reads.
-- Same format as jobs.sql. Every query here is read-only; none takes a row lock,
-- so none of them can hold up a worker.

-- event_max_id --
-- The id of the newest committed event: where a freshly started listener begins.
SELECT COALESCE(max(id), 0) AS id FROM procrastinate_events;

-- event_list_after --
-- Committed events after an id, oldest first, optionally of one queue/task (SSE replay).
-- Walks procrastinate_events' primary key from the cursor; the job join is a PK lookup.
SELECT event.id, event.job_id, event.type::text AS type, event.at,
       job.queue_name AS queue, job.task_name AS task
  FROM procrastinate_events event
  JOIN procrastinate_jobs job ON job.id = event.job_id
 WHERE event.id > %(after_id)s
   AND (%(queue)s::text IS NULL OR job.queue_name = %(queue)s)
   AND (%(task)s::text IS NULL OR job.task_name = %(task)s)
 ORDER BY event.id
 LIMIT %(limit)s;

-- event_list_new --
-- What a live listener has not seen yet: events after `after_id` and the lower ids it still
-- awaits (taken by transactions that had not committed at its last read), oldest first,
-- each with the id of the transaction that wrote it (its xmin: the listener hands events
-- out when that transaction's NOTIFY arrives), and the snapshot the statement read
-- (``xmin:xmax:xip``: the transactions it saw). One row with NULL event columns when none
-- is new.
-- Two index range scans in a UNION ALL: an OR of both conditions under ORDER BY ... LIMIT
-- could walk the primary key from its start.
SELECT seen.snapshot, event.id, event.job_id, event.type, event.at, event.queue, event.task,
       event.xid
  FROM (SELECT pg_current_snapshot()::text AS snapshot) seen
  LEFT JOIN LATERAL (
      (SELECT event.id, event.job_id, event.type::text AS type, event.at,
              job.queue_name AS queue, job.task_name AS task, event.xmin::text::bigint AS xid
         FROM procrastinate_events event
         JOIN procrastinate_jobs job ON job.id = event.job_id
        WHERE event.id > %(after_id)s
        ORDER BY event.id
        LIMIT %(limit)s)
      UNION ALL
      (SELECT event.id, event.job_id, event.type::text, event.at, job.queue_name, job.task_name,
              event.xmin::text::bigint
         FROM procrastinate_events event
         JOIN procrastinate_jobs job ON job.id = event.job_id
        WHERE event.id = ANY(%(awaited_ids)s::bigint[]) AND event.id <= %(after_id)s)
  ) event ON true
 ORDER BY event.id;

-- event_list_for_job_after --
-- One job's events after an id, oldest first (SSE replay of GET /jobs/{id}/events).
SELECT event.id, event.job_id, event.type::text AS type, event.at,
       job.queue_name AS queue, job.task_name AS task
  FROM procrastinate_events event
  JOIN procrastinate_jobs job ON job.id = event.job_id
 WHERE event.job_id = %(job_id)s
   AND event.id > %(after_id)s
 ORDER BY event.id
 LIMIT %(limit)s;

-- progress_list_running --
-- Stored progress of running jobs (one job, or filtered by queue/task): the progress
-- part of an SSE replay. Reads the 'doing' jobs through procrastinate's partial index.
SELECT job.id AS job_id, job.queue_name AS queue, job.task_name AS task,
       record.progress_percent AS percent, record.progress_message AS message,
       record.progress_updated_at AS at
  FROM procrastinate_jobs job
  JOIN pgjobs_jobs record ON record.job_id = job.id
 WHERE job.status = 'doing'
   AND record.progress_percent IS NOT NULL
   AND (%(job_id)s::bigint IS NULL OR job.id = %(job_id)s)
   AND (%(queue)s::text IS NULL OR job.queue_name = %(queue)s)
   AND (%(task)s::text IS NULL OR job.task_name = %(task)s)
 ORDER BY job.id
 LIMIT %(limit)s;

-- job_route_get --
-- The queue and task of one job (labels a progress notification, which carries neither).
SELECT queue_name AS queue, task_name AS task FROM procrastinate_jobs WHERE id = %(job_id)s;

-- job_count_active_by_queue --
-- Queued and running jobs per queue: a bitmap scan of procrastinate's todo/doing partial index.
SELECT queue_name AS queue, status::text AS status, count(*) AS count
  FROM procrastinate_jobs
 WHERE status IN ('todo', 'doing')
 GROUP BY queue_name, status;

-- job_count_by_queue_and_status --
-- Every job per queue and status: a full scan (about 0.15 s per million jobs), so callers cache it.
SELECT queue_name AS queue, status::text AS status, count(*) AS count
  FROM procrastinate_jobs
 GROUP BY queue_name, status;

-- queue_lag_list --
-- Per queue, the age in seconds of the oldest runnable job (todo and due) and how many are runnable.
-- A job is runnable since the later of its scheduled time and its last move to todo (its
-- 'deferred', 'deferred_for_retry' or 'retried' event): one PK-index probe of
-- procrastinate_events per queued job, so the cost grows with the backlog, not the table.
SELECT job.queue_name AS queue, count(*) AS runnable,
       extract(epoch FROM now() - min(GREATEST(job.scheduled_at, queued.at)))::float8
           AS oldest_seconds
  FROM procrastinate_jobs job
  CROSS JOIN LATERAL (
      SELECT max(event.at) AS at
        FROM procrastinate_events event
       WHERE event.job_id = job.id
         AND event.type IN ('deferred', 'deferred_for_retry', 'retried')
  ) queued
 WHERE job.status = 'todo'
   AND (job.scheduled_at IS NULL OR job.scheduled_at <= now())
 GROUP BY job.queue_name;

-- worker_list_with_jobs --
-- Registered workers, which process each is (pgjobs_workers: name, host, pid, figures from its
-- last heartbeat), and the jobs they run now (procrastinate's partial index on worker_id for
-- 'doing' jobs).
SELECT worker.id, worker.last_heartbeat,
       extract(epoch FROM now() - worker.last_heartbeat)::float8 AS heartbeat_age_seconds,
       process.name, process.hostname, process.pid, process.started_at, process.jobs_finished,
       process.resident_memory_bytes, process.recycling_reason,
       COALESCE(
           json_agg(json_build_object('id', job.id, 'task', job.task_name, 'queue', job.queue_name,
                                      'progress_percent', record.progress_percent)
                    ORDER BY job.id) FILTER (WHERE job.id IS NOT NULL),
           '[]'::json
       ) AS jobs
  FROM procrastinate_workers worker
  LEFT JOIN pgjobs_workers process ON process.worker_id = worker.id
  LEFT JOIN procrastinate_jobs job ON job.worker_id = worker.id AND job.status = 'doing'
  LEFT JOIN pgjobs_jobs record ON record.job_id = job.id
 GROUP BY worker.id, process.worker_id
 ORDER BY process.name NULLS LAST, worker.id;

-- event_list_tail --
-- The events in (after_id, up_to_id], oldest first, with their job's queue and task: what
-- the metrics tail reads every few seconds (a primary-key range, a PK probe per event).
-- rescued: the stalled-job rescue closes a lost attempt ('lost' row in pgjobs_attempts,
-- finished_at = now()) in the transaction that retries or fails the job, so the two
-- share their timestamp; only the event types a rescue writes are probed.
SELECT event.id, event.job_id, event.type::text AS type, event.at,
       job.queue_name AS queue, job.task_name AS task,
       (event.type IN ('deferred_for_retry', 'failed', 'aborted') AND EXISTS (
            SELECT 1 FROM pgjobs_attempts attempt
             WHERE attempt.job_id = event.job_id AND attempt.outcome = 'lost'
               AND attempt.finished_at = event.at)) AS rescued
  FROM procrastinate_events event
  JOIN procrastinate_jobs job ON job.id = event.job_id
 WHERE event.id > %(after_id)s
   AND event.id <= %(up_to_id)s
 ORDER BY event.id
 LIMIT %(limit)s;

-- event_list_history --
-- Every event of some jobs before an id, oldest first: what the metrics tail needs to know
-- about jobs it first meets mid-way (when did they start, since when were they runnable).
SELECT event.id, event.job_id, event.type::text AS type, event.at
  FROM procrastinate_events event
 WHERE event.job_id = ANY(%(job_ids)s::bigint[])
   AND event.id < %(before_id)s
 ORDER BY event.job_id, event.id;

-- job_finished_by_minute --
-- Jobs finished per minute and outcome over the last %(minutes)s minutes (the throughput chart).
-- procrastinate_events has no index on "at"; event ids grow with time, so the window is
-- found by walking the primary key backwards to the first older event, then scanning
-- forward from it: the cost is the window's events, not the table's.
WITH window_start AS (
    SELECT COALESCE(
               (SELECT event.id FROM procrastinate_events event
                 WHERE event.at < now() - make_interval(mins => %(minutes)s)
                 ORDER BY event.id DESC LIMIT 1),
               0) AS id
)
SELECT date_trunc('minute', event.at) AS minute, event.type::text AS outcome,
       count(*) AS count
  FROM procrastinate_events event
 WHERE event.id > (SELECT id FROM window_start)
   AND event.at >= now() - make_interval(mins => %(minutes)s)
   AND event.type IN ('succeeded', 'failed', 'aborted')
 GROUP BY 1, 2
 ORDER BY 1, 2;

-- channel_listen --
-- Subscribe the listener connection to a NOTIFY channel (its name is passed as an identifier).
LISTEN {channel};
