"""Attempts may end ``lost``: the worker died mid-attempt and the stalled-job rescue closed it.

A rescued job's interrupted attempt never reaches the worker middleware that
records outcomes, so the rescue writes it itself, with the reason (which worker,
how stale its heartbeat was, what was decided) in ``error_message``. It joins
the job's attempt history like any other attempt (``GET /jobs/{id}``), which is
what explains, in SQL, why a job ran more than once.

Downgrade turns ``lost`` attempts into ``failed`` ones (the closest earlier
outcome) before restoring the old constraint.

Revision ID: pgjobs_0005
Revises: pgjobs_0004
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0005"
down_revision = "pgjobs_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- A wider check: added NOT VALID (no scan under the ALTER's exclusive lock), then
        -- validated under a lock that lets workers keep recording attempts.
        ALTER TABLE pgjobs_attempts
            DROP CONSTRAINT pgjobs_attempts_outcome_check,
            ADD CONSTRAINT pgjobs_attempts_outcome_check
                CHECK (outcome IN ('succeeded', 'failed', 'aborted', 'lost')) NOT VALID;
        ALTER TABLE pgjobs_attempts VALIDATE CONSTRAINT pgjobs_attempts_outcome_check;
        COMMENT ON COLUMN pgjobs_attempts.outcome IS
            'succeeded, failed or aborted (written by the worker), or lost: the worker died mid-attempt and the stalled-job rescue closed it.';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE pgjobs_attempts SET outcome = 'failed' WHERE outcome = 'lost';
        ALTER TABLE pgjobs_attempts
            DROP CONSTRAINT pgjobs_attempts_outcome_check,
            ADD CONSTRAINT pgjobs_attempts_outcome_check
                CHECK (outcome IN ('succeeded', 'failed', 'aborted'));
        COMMENT ON COLUMN pgjobs_attempts.outcome IS NULL;
        """
    )
