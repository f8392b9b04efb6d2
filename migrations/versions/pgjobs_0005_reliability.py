"""Placeholder for stalled-job rescue, retention (issue 4); filled in by that work, removed if it needs no schema change.

Revision ID: pgjobs_0005
Revises: pgjobs_0004
"""

from __future__ import annotations

revision = "pgjobs_0005"
down_revision = "pgjobs_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
