"""procrastinate migration 03.03.00_01_pre_priority_lock_fetch_job.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_03_03_00_01"
down_revision = "procrastinate_03_02_00_50"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("03.03.00_01_pre_priority_lock_fetch_job.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
