"""procrastinate migration 01.01.01_01_job_id_bigint.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_01_01_01_01"
down_revision = "procrastinate_01_00_00_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("01.01.01_01_job_id_bigint.sql")


def downgrade() -> None:
    # procrastinate ships no down migration: see migrations/procrastinate_sql.py
    pass
