-- File format: see jobs.sql. Completion webhooks: deliveries and their attempts.

-- callback_delivery_get --
-- One delivery with everything its request body says about the job (a primary-key lookup
-- on each table; the job's times from its events).
SELECT callback.delivery_job_id, callback.job_id, callback.event_id, callback.status,
       callback.url, callback.delivered_at,
       job.task_name AS task, job.queue_name AS queue, job.attempts,
       record.result, record.error_type, record.error_message,
       COALESCE(record.created_at, times.deferred_at) AS created_at, times.started_at,
       final_event.at AS finished_at
  FROM pgjobs_callbacks callback
  JOIN procrastinate_jobs job ON job.id = callback.job_id
  JOIN procrastinate_events final_event ON final_event.id = callback.event_id
  LEFT JOIN pgjobs_jobs record ON record.job_id = callback.job_id
  CROSS JOIN LATERAL (
      SELECT min(event.at) FILTER (WHERE event.type = 'deferred') AS deferred_at,
             max(event.at) FILTER (WHERE event.type = 'started'
                                     AND event.id < callback.event_id) AS started_at
        FROM procrastinate_events event
       WHERE event.job_id = callback.job_id
  ) times
 WHERE callback.job_id = %(job_id)s AND callback.event_id = %(event_id)s;

-- callback_attempt_record --
-- Record one HTTP attempt of a delivery, and the delivery's success when it succeeded.
WITH attempt AS (
    INSERT INTO pgjobs_callback_attempts (delivery_job_id, attempt, sent_at, status_code,
                                          latency_ms, error)
    VALUES (%(delivery_job_id)s, %(attempt)s, %(sent_at)s, %(status_code)s, %(latency_ms)s,
            %(error)s)
    ON CONFLICT (delivery_job_id, attempt) DO UPDATE
       SET sent_at = EXCLUDED.sent_at, status_code = EXCLUDED.status_code,
           latency_ms = EXCLUDED.latency_ms, error = EXCLUDED.error
)
UPDATE pgjobs_callbacks
   SET delivered_at = CASE WHEN %(delivered)s THEN now() ELSE delivered_at END
 WHERE delivery_job_id = %(delivery_job_id)s;

-- callback_list_for_job --
-- Every delivery of one job, oldest first, with its delivery job's status and its attempts.
SELECT callback.delivery_job_id, callback.status AS job_status, callback.url,
       callback.created_at, callback.delivered_at,
       delivery.status::text AS delivery_status,
       'pgjobs-' || callback.job_id || '-' || callback.event_id AS idempotency_key,
       COALESCE(
           (SELECT json_agg(json_build_object(
                        'attempt', attempt.attempt, 'sent_at', attempt.sent_at,
                        'status_code', attempt.status_code, 'latency_ms', attempt.latency_ms,
                        'error', attempt.error)
                    ORDER BY attempt.attempt)
              FROM pgjobs_callback_attempts attempt
             WHERE attempt.delivery_job_id = callback.delivery_job_id),
           '[]'::json
       ) AS attempts
  FROM pgjobs_callbacks callback
  JOIN procrastinate_jobs delivery ON delivery.id = callback.delivery_job_id
 WHERE callback.job_id = %(job_id)s
 ORDER BY callback.event_id;
