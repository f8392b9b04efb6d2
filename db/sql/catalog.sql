-- The task catalog: what each worker and API process has published (migration pgjobs_0008).

-- catalog_publish --
-- Replace this process' entries with the tasks it has now, and forget processes silent too long.
-- One statement: readers never see a process with half its tasks. Forgetting here (every
-- publisher does it, a few rows at a time) keeps the table to the processes seen lately
-- without a maintenance job of its own.
WITH forgotten AS (
    DELETE FROM pgjobs_task_catalog
     WHERE process_id = %(process_id)s
        OR last_seen_at < now() - make_interval(secs => %(forget_after_seconds)s)
)
INSERT INTO pgjobs_task_catalog (process_id, task_name, schema_hash, args_schema, queue_name,
                                 priority, cron, description, retry, time_limit_seconds,
                                 soft_time_limit_seconds, process_kind, host, pid, worker_queues,
                                 task_modules)
SELECT %(process_id)s, entry.task_name, entry.schema_hash, entry.args_schema, entry.queue_name,
       entry.priority, entry.cron, entry.description, entry.retry, entry.time_limit,
       entry.soft_time_limit, %(process_kind)s, %(host)s, %(pid)s, %(worker_queues)s::text[],
       %(task_modules)s::text[]
  FROM unnest(%(task_names)s::text[], %(schema_hashes)s::text[], %(args_schemas)s::jsonb[],
              %(queue_names)s::text[], %(priorities)s::integer[], %(crons)s::text[],
              %(descriptions)s::text[], %(retries)s::jsonb[],
              %(time_limits)s::double precision[], %(soft_time_limits)s::double precision[])
       AS entry(task_name, schema_hash, args_schema, queue_name, priority, cron, description,
                retry, time_limit, soft_time_limit);

-- catalog_refresh --
-- Mark this process' entries as seen now; no row means they were forgotten (publish again).
UPDATE pgjobs_task_catalog
   SET last_seen_at = now()
 WHERE process_id = %(process_id)s;

-- catalog_list --
-- Every published entry, each task's most recently seen first, with how long ago it was seen.
SELECT process_id, task_name, schema_hash, args_schema, queue_name, priority, cron, description,
       retry, time_limit_seconds, soft_time_limit_seconds, process_kind, host, pid,
       worker_queues, task_modules, published_at, last_seen_at,
       extract(epoch FROM now() - last_seen_at)::float8 AS seen_seconds_ago
  FROM pgjobs_task_catalog
 WHERE last_seen_at >= now() - make_interval(secs => %(forget_after_seconds)s)
 ORDER BY task_name, last_seen_at DESC, process_id;
