"""procrastinate migration 00.07.01_01_fix_trigger_status_events_insert.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_07_01_01"
down_revision = "procrastinate_00_06_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.07.01_01_fix_trigger_status_events_insert.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
