"""Render docs/migrating-from-celery.md's includes: ``uv run python scripts/render_guide.py``.

The guide's "after" blocks are copies of the files in docs/examples/celery_migration/,
between ``<!-- include: PATH -->`` and ``<!-- end include -->``; this rewrites each
block from its file (tests/integration/docs/test_migration_guide.py fails when they
differ).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "migrating-from-celery.md"
INCLUDE = re.compile(
    r"<!-- include: (?P<path>\S+) -->\n```python\n(?P<body>.*?)```\n<!-- end include -->", re.S
)


def block(path: str) -> str:
    body = (ROOT / path).read_text()
    return f"<!-- include: {path} -->\n```python\n{body}```\n<!-- end include -->"


def render(text: str) -> str:
    return INCLUDE.sub(lambda match: block(match["path"]), text)


def main() -> int:
    GUIDE.write_text(render(GUIDE.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
