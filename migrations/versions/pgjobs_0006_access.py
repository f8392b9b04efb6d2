"""Who may use the API and the dashboard: API keys, users, dashboard sessions.

Only hashes of secrets are stored:

- an API key's token is 256 random bits; ``token_hash`` is its SHA-256, looked
  up by equality (a slow, salted hash would make that lookup impossible, and
  brute-forcing 256 bits is hopeless either way). ``token_prefix`` is the first
  characters of the token, shown by ``pgjobs keys list`` so a leaked token can
  be matched to its key; it reveals 48 of the 256 bits.
- a user's password is an argon2id hash (salted, slow: a stolen table does not
  give the passwords back).
- a dashboard session's cookie value is 256 random bits; ``token_hash`` is its
  SHA-256.

Key and user names are unique forever (a revoked key keeps its row and its
name), so ``created_by = 'key:ci-bot'`` on a job always names one key. A
session belongs to a user or to the API key used to log in; revoking the key
or deleting the user ends it (the session lookup checks both).

Revision ID: pgjobs_0006
Revises: pgjobs_0005
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0006"
down_revision = "pgjobs_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        r"""
        CREATE TABLE pgjobs_api_keys (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
            token_prefix text NOT NULL,
            token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
            scopes text[] NOT NULL CHECK (cardinality(scopes) > 0),
            queues text[] CHECK (queues IS NULL OR cardinality(queues) > 0),
            create_rate_per_second double precision CHECK (create_rate_per_second > 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text,
            expires_at timestamptz,
            revoked_at timestamptz,
            revoked_by text,
            last_used_at timestamptz
        );
        COMMENT ON TABLE pgjobs_api_keys IS
            'API keys (Authorization: Bearer <token>); only the SHA-256 of each token is kept.';
        COMMENT ON COLUMN pgjobs_api_keys.queues IS
            'NULL: every queue; else the only queues whose jobs the key sees and touches.';
        COMMENT ON COLUMN pgjobs_api_keys.create_rate_per_second IS
            'Jobs per second the key may create on one API process; NULL: PGJOBS_CREATE_RATE_PER_SECOND.';

        CREATE TABLE pgjobs_users (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
            password_hash text NOT NULL,
            role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
            queues text[] CHECK (queues IS NULL OR cardinality(queues) > 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text,
            password_changed_at timestamptz NOT NULL DEFAULT now(),
            last_login_at timestamptz
        );
        COMMENT ON TABLE pgjobs_users IS
            'People who log in to the dashboard; password_hash is argon2id.';

        CREATE TABLE pgjobs_sessions (
            token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
            user_id bigint REFERENCES pgjobs_users (id) ON DELETE CASCADE,
            api_key_id bigint REFERENCES pgjobs_api_keys (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            CHECK (num_nonnulls(user_id, api_key_id) = 1)
        );
        COMMENT ON TABLE pgjobs_sessions IS
            'Dashboard sessions (the cookie holds the token; only its SHA-256 is kept).';
        CREATE INDEX pgjobs_sessions_expires_at_idx ON pgjobs_sessions (expires_at);
        CREATE INDEX pgjobs_sessions_user_id_idx ON pgjobs_sessions (user_id)
            WHERE user_id IS NOT NULL;
        CREATE INDEX pgjobs_sessions_api_key_id_idx ON pgjobs_sessions (api_key_id)
            WHERE api_key_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE pgjobs_sessions, pgjobs_users, pgjobs_api_keys")
