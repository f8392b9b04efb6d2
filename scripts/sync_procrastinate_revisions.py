"""Write one alembic revision for each procrastinate migration file that has none.

Run after upgrading procrastinate: ``uv run python scripts/sync_procrastinate_revisions.py``.
New files chain after the last procrastinate revision; pgjobs' own revisions
must then be re-pointed by hand (the script says so), because their order
relative to procrastinate's is a decision, not a mechanical one.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from migrations.procrastinate_sql import packaged_migrations, revision_id

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"

TEMPLATE = '''"""procrastinate migration {file_name}

Runs procrastinate's packaged SQL file unchanged.
"""

from __future__ import annotations

from migrations import procrastinate_sql

revision = "{revision}"
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate_sql.apply("{file_name}")


def downgrade() -> None:
    {downgrade}
'''


NO_DOWN_MIGRATION = (
    "# procrastinate ships no down migration: see migrations/procrastinate_sql.py\n    pass"
)


def main() -> None:
    previous: str | None = None
    written = 0
    for file_name in packaged_migrations():
        revision = revision_id(file_name)
        path = VERSIONS / f"{revision}_{file_name.split('_', 2)[2].removesuffix('.sql')}.py"
        if not path.exists():
            downgrade = "procrastinate_sql.drop_all()" if previous is None else NO_DOWN_MIGRATION
            path.write_text(
                TEMPLATE.format(
                    file_name=file_name,
                    revision=revision,
                    down_revision=previous,
                    downgrade=downgrade,
                )
            )
            written += 1
        previous = revision
    print(f"wrote {written} revision(s); the last procrastinate revision is {previous}")
    if written:
        print("re-point the first pgjobs revision's down_revision at it")


if __name__ == "__main__":
    main()
