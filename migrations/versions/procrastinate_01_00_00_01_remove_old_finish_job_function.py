"""procrastinate migration 01.00.00_01_remove_old_finish_job_function.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_01_00_00_01"
down_revision = "procrastinate_00_23_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("01.00.00_01_remove_old_finish_job_function.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
