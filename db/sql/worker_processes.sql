-- File format: see jobs.sql. Queries about worker processes (pgjobs_workers).

-- worker_register --
-- Register a starting worker with procrastinate's own function and record which process it
-- is, in one statement (the worker's start costs no extra round trip).
WITH registered AS (
    SELECT worker_id FROM procrastinate_register_worker_v1()
)
INSERT INTO pgjobs_workers (worker_id, name, hostname, pid, resident_memory_bytes)
SELECT worker_id, %(name)s, %(hostname)s, %(pid)s, %(resident_memory_bytes)s
  FROM registered
RETURNING worker_id;

-- worker_heartbeat --
-- procrastinate's heartbeat plus the process' figures, in one statement.
WITH beat AS (
    SELECT procrastinate_update_heartbeat_v1(%(worker_id)s)
)
UPDATE pgjobs_workers
   SET jobs_finished = %(jobs_finished)s,
       resident_memory_bytes = %(resident_memory_bytes)s,
       recycling_reason = %(recycling_reason)s,
       updated_at = now()
  FROM (SELECT count(*) FROM beat) AS heartbeat_first
 WHERE worker_id = %(worker_id)s;
