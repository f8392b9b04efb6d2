"""procrastinate migration 00.06.00_01_fix_procrastinate_fetch_job.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_06_00_01"
down_revision = "procrastinate_00_05_00_03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.06.00_01_fix_procrastinate_fetch_job.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
