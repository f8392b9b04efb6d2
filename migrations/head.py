"""The revision a fully migrated database is at, read without importing alembic.

The API compares it with the database's ``alembic_version`` on every readiness
check (``/health/ready``). Asking alembic (``ScriptDirectory.get_current_head``)
imports its runtime and SQLAlchemy under it: more than a second of the API's
start-up, for one string. Every revision file states ``revision`` and
``down_revision`` as literals at module level (alembic's own template does), so
reading those assignments is enough: the head is the one revision no other
revision names as its parent.

``tests/integration/migrations/test_head.py`` proves this equals alembic's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "versions"


class RevisionGraphError(RuntimeError):
    """The revision files do not form a chain with exactly one head."""


def _literal(module: ast.Module, name: str, path: Path) -> object:
    """The value of the module-level assignment ``name = <literal>``."""
    for node in module.body:
        if isinstance(node, ast.Assign):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            value: ast.expr | None = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names, value = [node.target.id], node.value
        else:
            continue
        if name in names and value is not None:
            return ast.literal_eval(value)
    raise RevisionGraphError(f"{path.name} assigns no {name}")


def _parents(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple | list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise RevisionGraphError(f"down_revision must be None, a string or strings: {value!r}")


def revisions(versions: Path = VERSIONS) -> dict[str, tuple[str, ...]]:
    """Every revision id in ``versions`` with the ids of its parents."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted(versions.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = ast.parse(path.read_bytes(), filename=str(path))
        revision = _literal(module, "revision", path)
        if not isinstance(revision, str) or revision in found:
            raise RevisionGraphError(f"{path.name}: revision {revision!r} is not a new string")
        found[revision] = _parents(_literal(module, "down_revision", path))
    return found


def head_revision(versions: Path = VERSIONS) -> str:
    """The one revision that is nobody's parent; fails unless there is exactly one."""
    graph = revisions(versions)
    parents = {parent for ids in graph.values() for parent in ids}
    heads = sorted(set(graph) - parents)
    if len(heads) != 1:
        raise RevisionGraphError(f"expected exactly one head revision, found {heads}")
    return heads[0]
