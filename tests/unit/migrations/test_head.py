"""The head revision read from the revision files is alembic's own head."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from migrations import runner
from migrations.head import RevisionGraphError, head_revision, revisions


def test_the_head_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(runner.alembic_config())
    assert head_revision() == script.get_current_head()
    assert set(revisions()) == {revision.revision for revision in script.walk_revisions()}


def _revision(versions: Path, name: str, down: str, *, annotated: bool = False) -> None:
    hint = ": str" if annotated else ""
    (versions / f"{name}.py").write_text(
        f'"""{name}"""\nfrom alembic import op\n\nrevision{hint} = "{name}"\n'
        f"down_revision = {down}\n\n\ndef upgrade() -> None:\n    op.execute('SELECT 1')\n"
    )


def test_merges_and_annotations_are_understood(tmp_path: Path) -> None:
    _revision(tmp_path, "a", "None")
    _revision(tmp_path, "b", '"a"', annotated=True)
    _revision(tmp_path, "c", '"a"')
    _revision(tmp_path, "d", '("b", "c")')
    (tmp_path / "__init__.py").write_text("")
    assert revisions(tmp_path) == {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}
    assert head_revision(tmp_path) == "d"


def test_two_heads_are_refused(tmp_path: Path) -> None:
    _revision(tmp_path, "a", "None")
    _revision(tmp_path, "b", '"a"')
    _revision(tmp_path, "c", '"a"')
    with pytest.raises(RevisionGraphError, match=r"exactly one head.*\['b', 'c'\]"):
        head_revision(tmp_path)


def test_no_revisions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RevisionGraphError, match="exactly one head"):
        head_revision(tmp_path)


def test_a_file_without_a_literal_revision_is_refused(tmp_path: Path) -> None:
    (tmp_path / "odd.py").write_text("down_revision = None\n")
    with pytest.raises(RevisionGraphError, match=r"odd\.py assigns no revision"):
        head_revision(tmp_path)
    (tmp_path / "odd.py").write_text("revision = 'x'\ndown_revision = compute()\n")
    with pytest.raises(ValueError, match="malformed"):
        head_revision(tmp_path)


def test_a_duplicate_revision_is_refused(tmp_path: Path) -> None:
    _revision(tmp_path, "a", "None")
    (tmp_path / "a_copy.py").write_text("revision = 'a'\ndown_revision = None\n")
    with pytest.raises(RevisionGraphError, match="is not a new string"):
        head_revision(tmp_path)
