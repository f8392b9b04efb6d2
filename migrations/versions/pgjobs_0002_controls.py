"""Execution controls: a job's own time limits on its record.

Retry policies, queues, priorities and cron schedules need no schema of
their own (procrastinate's ``attempts``, ``scheduled_at``, ``queue_name``,
``priority`` and ``procrastinate_periodic_defers`` hold them). Time limits
overridden at creation are stored here, read by the worker when an attempt
starts; NULL means "the task's default", so a deploy changing a default
applies to jobs already queued without one.

Revision ID: pgjobs_0002
Revises: pgjobs_0001
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0002"
down_revision = "pgjobs_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Nullable columns without a default: no table rewrite. The checks are added
        -- NOT VALID (no scan under the ALTER's exclusive lock), then validated under a
        -- lock that lets workers keep writing.
        ALTER TABLE pgjobs_jobs
            ADD COLUMN time_limit_seconds double precision,
            ADD COLUMN soft_time_limit_seconds double precision,
            ADD CONSTRAINT pgjobs_jobs_time_limits_positive
                CHECK (time_limit_seconds > 0 AND soft_time_limit_seconds > 0) NOT VALID,
            ADD CONSTRAINT pgjobs_jobs_soft_within_hard
                CHECK (soft_time_limit_seconds <= time_limit_seconds) NOT VALID;
        ALTER TABLE pgjobs_jobs VALIDATE CONSTRAINT pgjobs_jobs_time_limits_positive;
        ALTER TABLE pgjobs_jobs VALIDATE CONSTRAINT pgjobs_jobs_soft_within_hard;
        COMMENT ON COLUMN pgjobs_jobs.time_limit_seconds IS
            'The job''s own hard time limit per attempt (seconds); NULL: its task''s default.';
        COMMENT ON COLUMN pgjobs_jobs.soft_time_limit_seconds IS
            'The job''s own soft time limit per attempt (seconds); NULL: its task''s default.';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE pgjobs_jobs
            DROP CONSTRAINT pgjobs_jobs_soft_within_hard,
            DROP CONSTRAINT pgjobs_jobs_time_limits_positive,
            DROP COLUMN soft_time_limit_seconds,
            DROP COLUMN time_limit_seconds;
        """
    )
