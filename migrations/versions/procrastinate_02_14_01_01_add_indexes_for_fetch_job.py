"""procrastinate migration 02.14.01_01_add_indexes_for_fetch_job.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_02_14_01_01"
down_revision = "procrastinate_02_08_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("02.14.01_01_add_indexes_for_fetch_job.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
