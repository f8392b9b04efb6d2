-- File format (the same as procrastinate's own queries.sql):
--   -- query_name --
--   -- one line on what it does
--   a %(name)s-parameterised statement
-- Names are noun then verb. Only this file holds pgjobs' SQL text.

-- job_defer_many --
-- Create N jobs and their pgjobs records in one statement (one round trip, one transaction).
-- Calls procrastinate's own procrastinate_defer_jobs_v1, exactly what
-- task.configure(connection=conn).defer_async() runs, so its triggers (NOTIFY
-- to wake workers, the 'deferred' event) fire as usual; fusing it with the
-- pgjobs insert is what keeps the create path to a single round trip.
-- Parallel arrays keep the statement one shape whatever N is, so it is planned once.
-- procrastinate_defer_jobs_v1 returns ids in the order of its input array, and
-- WITH ORDINALITY on both sides pairs each id with its request row.
-- With %(batch_id)s the statement also creates that batch (POST /batches): the batch
-- row and its members commit together or not at all (the foreign keys are checked at
-- the end of the statement, when both rows exist).
-- With %(idempotency_key)s it claims the key for the new job (or batch), last:
-- an expired row holding the key is deleted first (the claim reads the delete's
-- count, which orders the two, and a row this statement deleted is no conflict in
-- the primary key). A live key makes the claim fail with a unique violation, which
-- undoes the jobs above; if another request holds the key uncommitted, the
-- primary-key check waits for it to commit first, so the loser can then read the
-- winner's job. Two requests reusing one expired key queue on its row lock: the
-- second finds it already deleted, and then conflicts with the first's new key.
-- A job's own time limits (NULL: its task's defaults) go on its record, read at each start.
WITH requested AS (
    SELECT *
      FROM unnest(
            %(queue_names)s::text[], %(task_names)s::text[], %(priorities)s::integer[],
            %(locks)s::text[], %(queueing_locks)s::text[], %(args)s::jsonb[],
            %(scheduled_ats)s::timestamptz[], %(time_limits)s::double precision[],
            %(soft_time_limits)s::double precision[], %(callback_urls)s::text[]
           ) WITH ORDINALITY
           AS r(queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at,
                time_limit, soft_time_limit, callback_url, position)
), batch AS (
    INSERT INTO pgjobs_batches (id, created_by, size)
    SELECT %(batch_id)s::uuid, %(created_by)s, count(*)
      FROM requested
    HAVING %(batch_id)s::uuid IS NOT NULL
), deferred AS (
    SELECT d.job_id, d.position
      FROM unnest(procrastinate_defer_jobs_v1(
            (SELECT array_agg(
                        ROW(queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at)
                            ::procrastinate_job_to_defer_v1
                        ORDER BY position)
               FROM requested)
           )) WITH ORDINALITY AS d(job_id, position)
), recorded AS (
    INSERT INTO pgjobs_jobs (job_id, created_by, batch_id, time_limit_seconds,
                             soft_time_limit_seconds, callback_url)
    SELECT deferred.job_id, %(created_by)s, %(batch_id)s::uuid, requested.time_limit,
           requested.soft_time_limit, requested.callback_url
      FROM deferred
      JOIN requested USING (position)
    RETURNING job_id, created_at
), released AS (
    DELETE FROM pgjobs_idempotency_keys
     WHERE scope = %(idempotency_scope)s::text AND key = %(idempotency_key)s::text
       AND expires_at <= now()
    RETURNING key
), claimed AS (
    INSERT INTO pgjobs_idempotency_keys (scope, key, request_fingerprint, job_id, batch_id,
                                         expires_at)
    SELECT %(idempotency_scope)s::text, %(idempotency_key)s::text, %(request_fingerprint)s,
           CASE WHEN %(batch_id)s::uuid IS NULL THEN (SELECT min(job_id) FROM deferred) END,
           %(batch_id)s::uuid, now() + make_interval(secs => %(idempotency_ttl_seconds)s)
      FROM (SELECT count(*) FROM released) AS release_first
     WHERE %(idempotency_key)s::text IS NOT NULL
)
SELECT recorded.job_id AS id, recorded.created_at
  FROM recorded
  JOIN deferred USING (job_id)
 ORDER BY deferred.position;

-- job_get --
-- One job: procrastinate's row, pgjobs' record and the times read off its events.
SELECT job.id, job.queue_name AS queue, job.task_name AS task, job.priority, job.lock,
       job.queueing_lock, job.args, job.status::text AS status, job.scheduled_at,
       job.attempts, job.abort_requested, job.worker_id,
       COALESCE(record.created_at, times.deferred_at) AS created_at,
       times.started_at, current.finished_at,
       record.created_by, record.batch_id,
       record.result, current.error_type, current.error_message, current.error_traceback,
       record.progress_percent, record.progress_message, record.progress_updated_at,
       record.cancel_requested_by, record.cancel_requested_at,
       record.time_limit_seconds AS time_limit, record.soft_time_limit_seconds AS soft_time_limit,
       record.callback_url
  FROM procrastinate_jobs job
  LEFT JOIN pgjobs_jobs record ON record.job_id = job.id
  CROSS JOIN LATERAL (
      SELECT min(event.at) FILTER (WHERE event.type = 'deferred') AS deferred_at,
             max(event.at) FILTER (WHERE event.type = 'started') AS started_at,
             max(event.at) FILTER (
                 WHERE event.type IN ('succeeded', 'failed', 'cancelled', 'aborted')
             ) AS finished_at
        FROM procrastinate_events event
       WHERE event.job_id = job.id
  ) times
  -- A job that is not finished has no finished_at, and one running again shows no error:
  -- both would be an earlier attempt's (its attempts list keeps them). A job waiting to
  -- run again keeps the error that made it wait (a retry, a worker lacking its task).
  CROSS JOIN LATERAL (
      SELECT CASE WHEN job.status NOT IN ('todo', 'doing') THEN times.finished_at
             END AS finished_at,
             CASE WHEN job.status <> 'doing' THEN record.error_type END AS error_type,
             CASE WHEN job.status <> 'doing' THEN record.error_message END AS error_message,
             CASE WHEN job.status <> 'doing' THEN record.error_traceback END AS error_traceback
  ) current
 WHERE job.id = %(job_id)s;

-- job_query --
-- A page of jobs, newest first, with at most %(scan_limit)s jobs examined: the one job query
-- (GET /jobs, the dashboard, jobs.testing; paging rules in jobs/control/query.py).
-- The inner query walks procrastinate_jobs' primary key down from the cursor and stops
-- after scan_limit rows; the filters apply to that window only. So a page costs the same
-- whatever the table size or the filters' selectivity, needs no index on
-- procrastinate_jobs, and never seq-scans it; a sparse filter returns a short page and
-- the caller continues below the window. Each filter is "NULL means any";
-- hidden_queues leaves out the jobs of those queues (pgjobs' maintenance, by default).
-- The cursor is "id < COALESCE(...)", not "(cursor IS NULL OR id < cursor)": once
-- psycopg prepares the statement, a generic plan must still start the index scan at
-- the cursor instead of filtering every newer row on the way down.
-- created_at is pgjobs' record, else (periodic and plain procrastinate jobs, which get
-- their record when they run) the first 'deferred' event: one probe of the events'
-- job_id index, made only for the rows shown and for created_after/_before filters.
SELECT job.id, job.task_name AS task, job.queue_name AS queue, job.priority,
       job.status::text AS status, job.attempts, job.abort_requested, job.scheduled_at,
       created.at AS created_at, record.created_by, record.batch_id, job.args,
       record.progress_percent,
       CASE WHEN job.status <> 'doing' THEN record.error_type END AS error_type,
       CASE WHEN job.status <> 'doing' THEN record.error_message END AS error_message
  FROM (
      SELECT * FROM procrastinate_jobs
       WHERE id < COALESCE(%(before_id)s::bigint, 9223372036854775807)
       ORDER BY id DESC
       LIMIT %(scan_limit)s
  ) job
  LEFT JOIN pgjobs_jobs record ON record.job_id = job.id
  CROSS JOIN LATERAL (
      SELECT COALESCE(record.created_at,
                      (SELECT min(event.at) FROM procrastinate_events event
                        WHERE event.job_id = job.id AND event.type = 'deferred')) AS at
  ) created
 WHERE (%(statuses)s::text[] IS NULL OR job.status::text = ANY(%(statuses)s))
   AND (%(queue)s::text IS NULL OR job.queue_name = %(queue)s)
   AND (%(hidden_queues)s::text[] IS NULL OR job.queue_name <> ALL(%(hidden_queues)s))
   AND (%(task)s::text IS NULL OR job.task_name = %(task)s)
   AND (%(text)s::text IS NULL OR strpos(lower(job.args::text), lower(%(text)s)) > 0)
   AND (%(created_after)s::timestamptz IS NULL OR created.at >= %(created_after)s)
   AND (%(created_before)s::timestamptz IS NULL OR created.at < %(created_before)s)
 ORDER BY job.id DESC
 LIMIT %(limit)s;

-- job_query_active --
-- job_query for queued/running jobs only: walks procrastinate's todo/doing partial
-- index (id, lock) instead of the primary key, so a backlog is listed however old it is.
SELECT job.id, job.task_name AS task, job.queue_name AS queue, job.priority,
       job.status::text AS status, job.attempts, job.abort_requested, job.scheduled_at,
       created.at AS created_at, record.created_by, record.batch_id, job.args,
       record.progress_percent,
       CASE WHEN job.status <> 'doing' THEN record.error_type END AS error_type,
       CASE WHEN job.status <> 'doing' THEN record.error_message END AS error_message
  FROM (
      SELECT * FROM procrastinate_jobs
       WHERE status IN ('todo', 'doing')
         AND id < COALESCE(%(before_id)s::bigint, 9223372036854775807)
       ORDER BY id DESC
       LIMIT %(scan_limit)s
  ) job
  LEFT JOIN pgjobs_jobs record ON record.job_id = job.id
  CROSS JOIN LATERAL (
      SELECT COALESCE(record.created_at,
                      (SELECT min(event.at) FROM procrastinate_events event
                        WHERE event.job_id = job.id AND event.type = 'deferred')) AS at
  ) created
 WHERE (%(statuses)s::text[] IS NULL OR job.status::text = ANY(%(statuses)s))
   AND (%(queue)s::text IS NULL OR job.queue_name = %(queue)s)
   AND (%(hidden_queues)s::text[] IS NULL OR job.queue_name <> ALL(%(hidden_queues)s))
   AND (%(task)s::text IS NULL OR job.task_name = %(task)s)
   AND (%(text)s::text IS NULL OR strpos(lower(job.args::text), lower(%(text)s)) > 0)
   AND (%(created_after)s::timestamptz IS NULL OR created.at >= %(created_after)s)
   AND (%(created_before)s::timestamptz IS NULL OR created.at < %(created_before)s)
 ORDER BY job.id DESC
 LIMIT %(limit)s;

-- job_query_window --
-- The lowest id and the size of the window job_query examined (the next page starts below it).
SELECT min(id) AS floor, count(*) AS scanned
  FROM (
      SELECT id FROM procrastinate_jobs
       WHERE id < COALESCE(%(before_id)s::bigint, 9223372036854775807)
       ORDER BY id DESC
       LIMIT %(scan_limit)s
  ) scanned;

-- job_query_window_active --
-- The lowest id and the size of the window job_query_active examined.
SELECT min(id) AS floor, count(*) AS scanned
  FROM (
      SELECT id FROM procrastinate_jobs
       WHERE status IN ('todo', 'doing')
         AND id < COALESCE(%(before_id)s::bigint, 9223372036854775807)
       ORDER BY id DESC
       LIMIT %(scan_limit)s
  ) scanned;

-- job_lock_status --
-- The status of one job, row-locked so a state change decided on it cannot race a worker.
SELECT status::text AS status, abort_requested
  FROM procrastinate_jobs
 WHERE id = %(job_id)s
   FOR UPDATE;

-- job_cancel --
-- Cancel a queued job (todo -> cancelled) or request the abort of a running one,
-- through procrastinate's own function (which NOTIFYs the worker running it),
-- and record who asked.
WITH cancelled AS (
    SELECT procrastinate_cancel_job_v1(%(job_id)s, true, false) AS job_id
)
INSERT INTO pgjobs_jobs AS record (job_id, created_at, cancel_requested_by, cancel_requested_at)
SELECT cancelled.job_id,
       (SELECT min(event.at) FROM procrastinate_events event
         WHERE event.job_id = cancelled.job_id AND event.type = 'deferred'),
       %(requested_by)s, now()
  FROM cancelled
 WHERE cancelled.job_id IS NOT NULL
ON CONFLICT (job_id) DO UPDATE
   SET cancel_requested_by = EXCLUDED.cancel_requested_by,
       cancel_requested_at = EXCLUDED.cancel_requested_at,
       updated_at = now()
RETURNING job_id AS id;

-- job_retry --
-- Put finished-but-unsuccessful jobs (failed, cancelled, aborted) back to todo.
-- procrastinate_retry_job_v2 only accepts 'failed', so the update is done here
-- with the same effect; procrastinate's trigger records 'retried' for
-- failed -> todo and this statement records it for the other two. An UPDATE does
-- not fire procrastinate's job-inserted NOTIFY, so pgjobs_notify_queue_v1 sends it
-- here: an idle worker picks the job up at once instead of at its next poll.
WITH target AS (
    SELECT id, status, queue_name
      FROM procrastinate_jobs
     WHERE id = ANY(%(job_ids)s::bigint[])
       AND status IN ('failed', 'cancelled', 'aborted')
       FOR UPDATE
), retried AS (
    UPDATE procrastinate_jobs job
       SET status = 'todo', abort_requested = false, scheduled_at = NULL, worker_id = NULL
      FROM target
     WHERE job.id = target.id
    RETURNING job.id, target.status AS previous_status, target.queue_name
), recorded AS (
    INSERT INTO procrastinate_events (job_id, type)
    SELECT id, 'retried' FROM retried WHERE previous_status <> 'failed'
), notified AS (
    SELECT pgjobs_notify_queue_v1(queue_name, id) FROM retried
)
SELECT retried.id, retried.previous_status::text AS previous_status
  FROM retried, (SELECT count(*) FROM notified) AS notify_first;  -- a CTE runs when read

-- event_list --
-- The timeline of one job, oldest first, from procrastinate's event table.
SELECT id, type::text AS type, at
  FROM procrastinate_events
 WHERE job_id = %(job_id)s
 ORDER BY id;

-- attempt_list --
-- Every finished attempt of one job with its outcome and error.
SELECT attempt, worker_id, started_at, finished_at, outcome,
       error_type, error_message, error_traceback
  FROM pgjobs_attempts
 WHERE job_id = %(job_id)s
 ORDER BY attempt;

-- progress_save --
-- Store a running job's progress and NOTIFY it (channel versioned for rolling deploys).
WITH saved AS (
    INSERT INTO pgjobs_jobs AS record (job_id, created_at, progress_percent, progress_message,
                                       progress_updated_at)
    VALUES (%(job_id)s,
            COALESCE((SELECT min(event.at) FROM procrastinate_events event
                       WHERE event.job_id = %(job_id)s AND event.type = 'deferred'), now()),
            %(percent)s, %(message)s, now())
    ON CONFLICT (job_id) DO UPDATE
       SET progress_percent = EXCLUDED.progress_percent,
           progress_message = EXCLUDED.progress_message,
           progress_updated_at = EXCLUDED.progress_updated_at,
           updated_at = now()
    RETURNING job_id, progress_percent, progress_message
)
SELECT pg_notify('pgjobs_progress_v1',
                 json_build_object('job_id', job_id, 'percent', progress_percent,
                                   'message', progress_message)::text)
  FROM saved;

-- schema_revision --
-- The alembic revision the database is at (the table is missing when it was never migrated).
SELECT version_num FROM alembic_version;

-- server_ping --
-- A round trip that proves the server answers.
SELECT 1 AS ok;

-- schema_objects --
-- Every schema object of the current schema as (kind, name, definition): the drift check's input.
SELECT 'table' AS kind, c.relname AS name,
       string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                  || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                  || COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                  ', ' ORDER BY a.attname) AS definition
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relkind IN ('r', 'p', 'v', 'm')
 GROUP BY c.relname
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
UNION ALL
SELECT 'constraint', cl.relname || '.' || co.conname, pg_get_constraintdef(co.oid)
  FROM pg_constraint co
  JOIN pg_class cl ON cl.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = current_schema()
UNION ALL
SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_functiondef(p.oid)
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = current_schema()
UNION ALL
SELECT 'trigger', cl.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t
  JOIN pg_class cl ON cl.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = current_schema()
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'type', t.typname,
       COALESCE((SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
                   FROM pg_enum e WHERE e.enumtypid = t.oid),
                (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
                                   ', ' ORDER BY a.attnum)
                   FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0))
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = current_schema()
 WHERE t.typtype IN ('e', 'c')
   AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
UNION ALL
SELECT 'sequence', sequencename, data_type::text
  FROM pg_sequences WHERE schemaname = current_schema()
 ORDER BY 1, 2;

-- job_count_by_status --
-- Number of jobs in each status (procrastinate's status column, no index needed for a full count).
SELECT status::text AS status, count(*) AS count
  FROM procrastinate_jobs
 GROUP BY status
 ORDER BY status;
