"""Apply procrastinate's packaged migration files, unchanged, from alembic revisions.

Each ``procrastinate_*`` revision runs exactly one file of
``procrastinate/sql/migrations`` (style rule 5): upgrading procrastinate means
adding the revisions for its new files (``scripts/sync_procrastinate_revisions.py``
writes them), and a test fails while a packaged file has no revision.

procrastinate ships no down migrations. The first revision's downgrade drops
every procrastinate object; the others are documented no-ops, so
``alembic downgrade base`` works and leaves an empty schema, while stopping
half-way inside procrastinate's chain is not supported.
"""

from __future__ import annotations

import importlib.resources
import re

from alembic import op

PACKAGE = "procrastinate.sql.migrations"


def packaged_migrations() -> list[str]:
    """File names of procrastinate's migrations, in the order they must be applied."""
    files = importlib.resources.files(PACKAGE)
    return sorted(entry.name for entry in files.iterdir() if entry.name.endswith(".sql"))


def revision_id(file_name: str) -> str:
    """``03.04.00_50_post_x.sql`` -> ``procrastinate_03_04_00_50``.

    Short on purpose: alembic_version.version_num is varchar(32).
    """
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_", file_name)
    assert match, f"unexpected procrastinate migration name {file_name}"
    return "procrastinate_" + "_".join(match.groups())


def apply(file_name: str) -> None:
    sql = importlib.resources.files(PACKAGE).joinpath(file_name).read_text(encoding="utf-8")
    # Sent on the raw psycopg connection, inside alembic's transaction, with no
    # parameters: psycopg then does no placeholder parsing (the files have ':'
    # and '%' in plpgsql bodies) and runs several statements at once, exactly
    # as psql would.
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(sql)


def drop_all() -> None:
    """Remove every procrastinate object from the current schema."""
    op.execute(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DO $$
        DECLARE fn record;
        BEGIN
            FOR fn IN
                SELECT p.oid::regprocedure AS signature
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || fn.signature || ' CASCADE';
            END LOOP;
        END;
        $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
            procrastinate_job_status CASCADE;
        """
    )
