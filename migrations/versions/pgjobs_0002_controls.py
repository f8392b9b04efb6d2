"""Placeholder for retry policies, time limits, schedules (issue 3, execution controls); filled in by that work, removed if it needs no schema change.

Revision ID: pgjobs_0002
Revises: pgjobs_0001
"""

from __future__ import annotations

revision = "pgjobs_0002"
down_revision = "pgjobs_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
