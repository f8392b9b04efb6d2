"""Worker processes by name: ``pgjobs_workers``, one row per registered procrastinate worker.

procrastinate's ``procrastinate_workers`` holds only an id and a heartbeat.
With several processes per ``pgjobs worker`` and processes that recycle
themselves, the workers page and ``/metrics`` must say *which* process is
which: its name (``<name>#<slot>``), host, pid, when it started, how many jobs
it finished, its resident memory, and whether it is recycling (and why).

The row is written in the same statement that registers the worker and
refreshed with its heartbeat (no extra round trip), and goes with the worker
row (ON DELETE CASCADE) when procrastinate unregisters or prunes it.

Revision ID: pgjobs_0009
Revises: pgjobs_0008
"""

from __future__ import annotations

from alembic import op

revision = "pgjobs_0009"
down_revision = "pgjobs_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pgjobs_workers (
            worker_id bigint PRIMARY KEY
                REFERENCES procrastinate_workers (id) ON DELETE CASCADE,
            name text NOT NULL,
            hostname text NOT NULL,
            pid integer NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            jobs_finished bigint NOT NULL DEFAULT 0,
            resident_memory_bytes bigint,
            recycling_reason text,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE pgjobs_workers IS
            'Which process a procrastinate worker is (name, host, pid) and how it is doing; refreshed with its heartbeat.';
        COMMENT ON COLUMN pgjobs_workers.recycling_reason IS
            'Set when the process stopped claiming jobs to be replaced (max jobs or max memory reached).';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE pgjobs_workers")
