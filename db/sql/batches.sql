-- Batches (pgjobs_batches): many jobs created by one call. The batch row and its
-- jobs are inserted by job_defer_many, in one statement.

-- batch_get --
-- One batch with its jobs counted by status and, per status, the sum of their progress.
-- Jobs deleted since (retention only deletes finished jobs) count in no status:
-- size - sum(counts). One pass over the batch's jobs through pgjobs_jobs_batch_id_idx,
-- then procrastinate_jobs' primary key; statuses with no job are absent from both objects.
SELECT batch.id, batch.created_at, batch.created_by, batch.size,
       COALESCE(jobs.counts, '{}') AS counts, COALESCE(jobs.progress, '{}') AS progress
  FROM pgjobs_batches batch
  LEFT JOIN LATERAL (
      SELECT json_object_agg(status, count) AS counts,
             json_object_agg(status, progress) AS progress
        FROM (SELECT job.status::text AS status, count(*) AS count,
                     sum(COALESCE(record.progress_percent, 0))::float8 AS progress
                FROM pgjobs_jobs record
                JOIN procrastinate_jobs job ON job.id = record.job_id
               WHERE record.batch_id = batch.id
               GROUP BY job.status) by_status
  ) jobs ON true
 WHERE batch.id = %(batch_id)s;

-- batch_job_ids --
-- The ids of a batch's jobs, in the order of the request's items (ids grow in that order).
SELECT job_id AS id
  FROM pgjobs_jobs
 WHERE batch_id = %(batch_id)s
 ORDER BY job_id;
