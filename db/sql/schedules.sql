-- Queries about periodic (cron) schedules. Same format as jobs.sql.

-- periodic_defer_list_latest --
-- The latest tick deferred for each named periodic task, with its job's status.
-- procrastinate keeps about one row per (task, periodic_id) (each defer deletes the
-- older ones) and indexes none of these columns: the scan reads a handful of rows.
SELECT DISTINCT ON (defer.task_name, defer.periodic_id)
       defer.task_name, defer.periodic_id, defer.defer_timestamp, defer.job_id,
       job.status::text AS status
  FROM procrastinate_periodic_defers defer
  LEFT JOIN procrastinate_jobs job ON job.id = defer.job_id
 WHERE defer.task_name = ANY(%(task_names)s::text[])
 ORDER BY defer.task_name, defer.periodic_id, defer.defer_timestamp DESC;
