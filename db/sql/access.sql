-- Access: API keys, users and dashboard sessions (pgjobs_api_keys, pgjobs_users,
-- pgjobs_sessions). Secrets are never stored: tokens by their SHA-256, passwords by argon2id.

-- api_key_insert --
-- Create an API key; a name already used (by a live or a revoked key) is a unique violation.
INSERT INTO pgjobs_api_keys (name, token_prefix, token_hash, scopes, queues,
                             create_rate_per_second, expires_at, created_by)
VALUES (%(name)s, %(token_prefix)s, %(token_hash)s, %(scopes)s, %(queues)s,
        %(create_rate_per_second)s, %(expires_at)s, %(created_by)s)
RETURNING id, name, token_prefix, scopes, queues, create_rate_per_second, created_at,
          created_by, expires_at, revoked_at, revoked_by, last_used_at;

-- api_key_list --
-- Every key, newest first; revoked and expired ones only when asked.
SELECT id, name, token_prefix, scopes, queues, create_rate_per_second, created_at,
       created_by, expires_at, revoked_at, revoked_by, last_used_at
  FROM pgjobs_api_keys
 WHERE %(include_inactive)s
    OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))
 ORDER BY id DESC;

-- api_key_get --
-- One key by name, revoked or not.
SELECT id, name, token_prefix, scopes, queues, create_rate_per_second, created_at,
       created_by, expires_at, revoked_at, revoked_by, last_used_at
  FROM pgjobs_api_keys
 WHERE name = %(name)s;

-- api_key_revoke --
-- Revoke a live key (its sessions end with it: session_authenticate checks the key).
UPDATE pgjobs_api_keys
   SET revoked_at = now(), revoked_by = %(revoked_by)s
 WHERE name = %(name)s AND revoked_at IS NULL
RETURNING id, name, token_prefix, scopes, queues, create_rate_per_second, created_at,
          created_by, expires_at, revoked_at, revoked_by, last_used_at;

-- api_key_expire --
-- Make a live key expire at %(expires_at)s at the latest (rotation's grace period).
UPDATE pgjobs_api_keys
   SET expires_at = LEAST(COALESCE(expires_at, %(expires_at)s), %(expires_at)s)
 WHERE name = %(name)s AND revoked_at IS NULL
RETURNING id, name, token_prefix, scopes, queues, create_rate_per_second, created_at,
          created_by, expires_at, revoked_at, revoked_by, last_used_at;

-- api_key_authenticate --
-- The live key whose token hashes to %(token_hash)s (a unique-index lookup), and its
-- last use recorded at most once a minute (so a busy key costs no write per request).
WITH found AS (
    SELECT id, name, scopes, queues, create_rate_per_second, expires_at
      FROM pgjobs_api_keys
     WHERE token_hash = %(token_hash)s
       AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > now())
), touched AS (
    UPDATE pgjobs_api_keys key
       SET last_used_at = now()
      FROM found
     WHERE key.id = found.id
       AND (key.last_used_at IS NULL OR key.last_used_at < now() - interval '1 minute')
)
SELECT 'key' AS kind, id, name, scopes, NULL::text AS role, queues, create_rate_per_second,
       expires_at
  FROM found;

-- user_insert --
-- Create a user; a name already taken is a unique violation.
INSERT INTO pgjobs_users (name, password_hash, role, queues, created_by)
VALUES (%(name)s, %(password_hash)s, %(role)s, %(queues)s, %(created_by)s)
RETURNING id, name, role, queues, created_at, created_by, password_changed_at, last_login_at;

-- user_list --
-- Every user, by name.
SELECT id, name, role, queues, created_at, created_by, password_changed_at, last_login_at
  FROM pgjobs_users
 ORDER BY name;

-- user_get_for_login --
-- What a login checks: the user's password hash (never leaves the API process).
SELECT id, name, role, queues, password_hash
  FROM pgjobs_users
 WHERE name = %(name)s;

-- user_password_set --
-- Replace a user's password hash; with %(end_sessions)s, end the user's sessions too.
WITH updated AS (
    UPDATE pgjobs_users
       SET password_hash = %(password_hash)s, password_changed_at = now()
     WHERE name = %(name)s
    RETURNING id
), ended AS (
    DELETE FROM pgjobs_sessions
     WHERE %(end_sessions)s AND user_id = (SELECT id FROM updated)
)
SELECT id FROM updated;

-- user_delete --
-- Delete a user (its sessions go with it: ON DELETE CASCADE).
DELETE FROM pgjobs_users WHERE name = %(name)s RETURNING id;

-- session_insert --
-- Start a dashboard session for a user or an API key (never outliving the key), and
-- record the user's login.
-- Expired sessions are purged here, a few at a time: every login pays for a little cleanup.
WITH purged AS (
    DELETE FROM pgjobs_sessions
     WHERE token_hash IN (SELECT token_hash FROM pgjobs_sessions
                           WHERE expires_at <= now()
                           ORDER BY expires_at LIMIT 100
                             FOR UPDATE SKIP LOCKED)
), logged_in AS (
    UPDATE pgjobs_users SET last_login_at = now() WHERE id = %(user_id)s
)
INSERT INTO pgjobs_sessions (token_hash, user_id, api_key_id, expires_at)
VALUES (%(token_hash)s, %(user_id)s, %(api_key_id)s,
        LEAST(now() + make_interval(secs => %(lifetime_seconds)s),
              (SELECT expires_at FROM pgjobs_api_keys WHERE id = %(api_key_id)s)))
RETURNING expires_at;

-- session_authenticate --
-- The session whose cookie hashes to %(token_hash)s, with who it belongs to; nothing when
-- it expired, or its key was revoked or expired (a deleted user takes its sessions along).
SELECT CASE WHEN session.user_id IS NULL THEN 'key' ELSE 'user' END AS kind,
       COALESCE(account.id, key.id) AS id,
       COALESCE(account.name, key.name) AS name,
       key.scopes, account.role,
       COALESCE(account.queues, key.queues) AS queues,
       key.create_rate_per_second,
       session.expires_at
  FROM pgjobs_sessions session
  LEFT JOIN pgjobs_users account ON account.id = session.user_id
  LEFT JOIN pgjobs_api_keys key ON key.id = session.api_key_id
 WHERE session.token_hash = %(token_hash)s
   AND session.expires_at > now()
   AND (session.user_id IS NOT NULL
        OR (key.revoked_at IS NULL AND (key.expires_at IS NULL OR key.expires_at > now())));

-- session_delete --
-- End a session (logout).
DELETE FROM pgjobs_sessions WHERE token_hash = %(token_hash)s;
