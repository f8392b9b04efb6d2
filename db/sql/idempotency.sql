-- Idempotency keys (pgjobs_idempotency_keys): what a key names and when it expires.
-- Keys are claimed by job_defer_many, in the statement that creates what they name.

-- idempotency_key_get --
-- The job or batch a key names, the fingerprint of the request that claimed it, and whether it expired.
SELECT job_id, batch_id, request_fingerprint, created_at, expires_at,
       expires_at <= now() AS expired
  FROM pgjobs_idempotency_keys
 WHERE scope = %(scope)s AND key = %(key)s;

-- idempotency_key_purge --
-- Delete up to %(limit)s expired keys, oldest expiry first, returning how many went.
-- SKIP LOCKED: a key some request is releasing and claiming again right now is left to it.
WITH expired AS (
    SELECT scope, key
      FROM pgjobs_idempotency_keys
     WHERE expires_at <= now()
     ORDER BY expires_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), purged AS (
    DELETE FROM pgjobs_idempotency_keys keys
     USING expired
     WHERE keys.scope = expired.scope AND keys.key = expired.key
    RETURNING 1
)
SELECT count(*) AS purged FROM purged;
