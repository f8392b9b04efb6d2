"""procrastinate migration 03.00.00_50_post_cancel_notification.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_03_00_00_50"
down_revision = "procrastinate_03_00_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("03.00.00_50_post_cancel_notification.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
