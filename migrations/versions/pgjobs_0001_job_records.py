"""pgjobs' own tables: job records, attempts, batches.

pgjobs never alters procrastinate's tables; what it adds about a job lives here,
keyed by procrastinate's job id and deleted with the job (ON DELETE CASCADE), so
procrastinate's own retention and ``delete_jobs`` keep both sides consistent.

Revision ID: pgjobs_0001
Revises: procrastinate_03_04_00_50
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0001"
down_revision = "procrastinate_03_04_00_50"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pgjobs_batches (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text,
            size integer NOT NULL CHECK (size > 0)
        );
        COMMENT ON TABLE pgjobs_batches IS 'A group of jobs submitted in one call (POST /batches).';

        CREATE TABLE pgjobs_jobs (
            job_id bigint PRIMARY KEY REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text,
            idempotency_key text,
            request_fingerprint text,
            batch_id uuid REFERENCES pgjobs_batches (id) ON DELETE SET NULL,
            result jsonb,
            error_type text,
            error_message text,
            error_traceback text,
            progress_percent real CHECK (progress_percent BETWEEN 0 AND 100),
            progress_message text,
            progress_updated_at timestamptz,
            cancel_requested_by text,
            cancel_requested_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE pgjobs_jobs IS
            'pgjobs'' record of a procrastinate job: who created it, its result or last error, its progress.';
        COMMENT ON COLUMN pgjobs_jobs.created_by IS
            'Who or what created the job: the API caller, application code, or a periodic schedule.';
        COMMENT ON COLUMN pgjobs_jobs.request_fingerprint IS
            'sha256 of the canonical create request; a replayed Idempotency-Key must carry the same one.';
        CREATE UNIQUE INDEX pgjobs_jobs_idempotency_key_idx
            ON pgjobs_jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX pgjobs_jobs_batch_id_idx ON pgjobs_jobs (batch_id) WHERE batch_id IS NOT NULL;
        CREATE INDEX pgjobs_jobs_created_at_idx ON pgjobs_jobs (created_at);

        CREATE TABLE pgjobs_attempts (
            job_id bigint NOT NULL REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
            attempt integer NOT NULL CHECK (attempt > 0),
            worker_id bigint,
            started_at timestamptz NOT NULL,
            finished_at timestamptz NOT NULL,
            outcome text NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'aborted')),
            error_type text,
            error_message text,
            error_traceback text,
            PRIMARY KEY (job_id, attempt)
        );
        COMMENT ON TABLE pgjobs_attempts IS
            'One row per finished execution of a job; worker_id has no foreign key because workers are pruned.';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE pgjobs_attempts, pgjobs_jobs, pgjobs_batches")
