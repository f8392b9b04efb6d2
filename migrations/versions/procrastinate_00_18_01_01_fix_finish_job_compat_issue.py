"""procrastinate migration 00.18.01_01_fix_finish_job_compat_issue.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_18_01_01"
down_revision = "procrastinate_00_17_00_04"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.18.01_01_fix_finish_job_compat_issue.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
