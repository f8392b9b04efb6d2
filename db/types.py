"""Types shared by the repository modules."""

from __future__ import annotations

from typing import Any, TypeAlias

import psycopg
from psycopg_pool import AsyncConnectionPool

#: A psycopg async connection; repository functions take one and never commit (style rule 6).
Connection: TypeAlias = psycopg.AsyncConnection[Any]
Pool: TypeAlias = AsyncConnectionPool[psycopg.AsyncConnection[Any]]
Row: TypeAlias = dict[str, Any]
