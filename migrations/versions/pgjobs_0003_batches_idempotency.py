"""Idempotency keys get their own table, with an expiry, and may name a job or a batch.

Until now a key lived on the job record it created (``pgjobs_jobs.idempotency_key``,
unique forever). A key now lives ``PGJOBS_IDEMPOTENCY_TTL_SECONDS`` (24 h by
default) and then may be reused; it belongs to a caller (``scope``: who created
the job, so two callers' keys never collide), and it can name a batch
(``POST /batches``) as well as a job. Keeping keys in a table of their own lets
the create statement release an expired key and claim it again in one atomic
step, and lets expired keys be purged without touching job records.

Existing keys are carried over with a 24 h expiry counted from their job's creation.
Their fingerprints were computed the old way (body only), so a replay of such a
request after the upgrade gets 409 rather than a second job: safe, if not a replay.

Revision ID: pgjobs_0003
Revises: pgjobs_0002
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0003"
down_revision = "pgjobs_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pgjobs_idempotency_keys (
            scope text NOT NULL,
            key text NOT NULL,
            request_fingerprint text NOT NULL,
            job_id bigint REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
            batch_id uuid REFERENCES pgjobs_batches (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (scope, key),
            CONSTRAINT pgjobs_idempotency_keys_one_target CHECK (num_nonnulls(job_id, batch_id) = 1)
        );
        COMMENT ON TABLE pgjobs_idempotency_keys IS
            'Idempotency-Key of a create request: the job or batch it created, until expires_at.';
        COMMENT ON COLUMN pgjobs_idempotency_keys.scope IS
            'Whose key it is (the creator recorded on the job): keys of different callers never collide.';
        COMMENT ON COLUMN pgjobs_idempotency_keys.request_fingerprint IS
            'sha256 of the endpoint and canonical request body; a replay must carry the same one.';
        CREATE INDEX pgjobs_idempotency_keys_expires_at_idx ON pgjobs_idempotency_keys (expires_at);
        CREATE INDEX pgjobs_idempotency_keys_job_id_idx
            ON pgjobs_idempotency_keys (job_id) WHERE job_id IS NOT NULL;
        CREATE INDEX pgjobs_idempotency_keys_batch_id_idx
            ON pgjobs_idempotency_keys (batch_id) WHERE batch_id IS NOT NULL;

        INSERT INTO pgjobs_idempotency_keys (scope, key, request_fingerprint, job_id, created_at,
                                             expires_at)
        SELECT COALESCE(created_by, ''), idempotency_key, COALESCE(request_fingerprint, ''), job_id,
               created_at, created_at + interval '24 hours'
          FROM pgjobs_jobs
         WHERE idempotency_key IS NOT NULL;

        DROP INDEX pgjobs_jobs_idempotency_key_idx;
        ALTER TABLE pgjobs_jobs DROP COLUMN idempotency_key, DROP COLUMN request_fingerprint;
        """
    )


def downgrade() -> None:
    # Batch keys have no place in the old layout, and keys were global there: keys naming
    # a job go back onto its record, the newest one winning when two scopes shared a key.
    op.execute(
        """
        ALTER TABLE pgjobs_jobs ADD COLUMN idempotency_key text, ADD COLUMN request_fingerprint text;
        COMMENT ON COLUMN pgjobs_jobs.request_fingerprint IS
            'sha256 of the canonical create request; a replayed Idempotency-Key must carry the same one.';
        UPDATE pgjobs_jobs record
           SET idempotency_key = keys.key, request_fingerprint = keys.request_fingerprint
          FROM (SELECT DISTINCT ON (key) key, request_fingerprint, job_id
                  FROM pgjobs_idempotency_keys
                 WHERE job_id IS NOT NULL
                 ORDER BY key, created_at DESC) keys
         WHERE keys.job_id = record.job_id;
        CREATE UNIQUE INDEX pgjobs_jobs_idempotency_key_idx
            ON pgjobs_jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
        DROP TABLE pgjobs_idempotency_keys;
        """
    )
