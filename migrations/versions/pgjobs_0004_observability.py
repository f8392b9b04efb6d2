"""Placeholder for live events, metrics, dashboard (issue 5); filled in by that work, removed if it needs no schema change.

Revision ID: pgjobs_0004
Revises: pgjobs_0003
"""

from __future__ import annotations

revision = "pgjobs_0004"
down_revision = "pgjobs_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
