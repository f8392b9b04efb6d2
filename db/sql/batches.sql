-- Batches (pgjobs_batches): many jobs created by one call. The batch row and its
-- jobs are inserted by job_defer_many, in one statement.

-- batch_get --
-- One batch with its jobs counted by status and its progress: the mean of its jobs' progress.
-- A finished job counts 100 whatever its percent; a job deleted since (retention only
-- deletes finished jobs) counts as finished. One pass over the batch's jobs through
-- pgjobs_jobs_batch_id_idx, then procrastinate_jobs' primary key.
SELECT batch.id, batch.created_at, batch.created_by, batch.size,
       count(job.id) FILTER (WHERE job.status = 'todo') AS todo,
       count(job.id) FILTER (WHERE job.status = 'doing') AS doing,
       count(job.id) FILTER (WHERE job.status = 'succeeded') AS succeeded,
       count(job.id) FILTER (WHERE job.status = 'failed') AS failed,
       count(job.id) FILTER (WHERE job.status = 'cancelled') AS cancelled,
       count(job.id) FILTER (WHERE job.status = 'aborted') AS aborted,
       batch.size - count(job.id) AS deleted,
       (COALESCE(sum(CASE WHEN job.status IN ('todo', 'doing')
                          THEN COALESCE(record.progress_percent, 0)
                          ELSE 100 END), 0)
        + 100.0 * (batch.size - count(job.id)))::float8 / batch.size AS progress_percent
  FROM pgjobs_batches batch
  LEFT JOIN (pgjobs_jobs record JOIN procrastinate_jobs job ON job.id = record.job_id)
         ON record.batch_id = batch.id
 WHERE batch.id = %(batch_id)s
 GROUP BY batch.id;

-- batch_job_ids --
-- The ids of a batch's jobs, in the order of the request's items (ids grow in that order).
SELECT job_id AS id
  FROM pgjobs_jobs
 WHERE batch_id = %(batch_id)s
 ORDER BY job_id;
