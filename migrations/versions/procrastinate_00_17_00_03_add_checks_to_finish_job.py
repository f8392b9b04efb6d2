"""procrastinate migration 00.17.00_03_add_checks_to_finish_job.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_17_00_03"
down_revision = "procrastinate_00_17_00_02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.17.00_03_add_checks_to_finish_job.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
