"""procrastinate migration 00.22.00_01_add_kwargs_to_defer_periodic_job.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_22_00_01"
down_revision = "procrastinate_00_19_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.22.00_01_add_kwargs_to_defer_periodic_job.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
