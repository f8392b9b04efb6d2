"""procrastinate migration 00.08.01_01_add_queueing_lock_column.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_08_01_01"
down_revision = "procrastinate_00_07_01_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.08.01_01_add_queueing_lock_column.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
