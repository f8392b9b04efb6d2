"""procrastinate migration 00.00.00_01_initial.sql

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "procrastinate_00_00_00_01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("00.00.00_01_initial.sql")


def downgrade() -> None:
    procrastinate_sql.drop_all()
