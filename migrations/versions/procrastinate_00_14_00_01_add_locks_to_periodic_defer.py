"""procrastinate migration 00.14.00_01_add_locks_to_periodic_defer.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_14_00_01"
down_revision = "procrastinate_00_12_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.14.00_01_add_locks_to_periodic_defer.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
