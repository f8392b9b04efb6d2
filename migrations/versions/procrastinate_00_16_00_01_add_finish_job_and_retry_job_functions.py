"""procrastinate migration 00.16.00_01_add_finish_job_and_retry_job_functions.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_16_00_01"
down_revision = "procrastinate_00_15_02_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.16.00_01_add_finish_job_and_retry_job_functions.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
