"""procrastinate migration 03.02.00_50_post_batch_defer_jobs.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_03_02_00_50"
down_revision = "procrastinate_03_02_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("03.02.00_50_post_batch_defer_jobs.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
