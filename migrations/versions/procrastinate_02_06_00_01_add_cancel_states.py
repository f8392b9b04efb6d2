"""procrastinate migration 02.06.00_01_add_cancel_states.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_02_06_00_01"
down_revision = "procrastinate_02_05_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("02.06.00_01_add_cancel_states.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
