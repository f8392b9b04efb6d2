"""Placeholder for batches, dead letters, idempotency (issue 3, bulk); filled in by that work, removed if it needs no schema change.

Revision ID: pgjobs_0003
Revises: pgjobs_0002
"""

from __future__ import annotations

revision = "pgjobs_0003"
down_revision = "pgjobs_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
