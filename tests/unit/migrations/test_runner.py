from __future__ import annotations

import pytest

from migrations.runner import sqlalchemy_url


def test_sqlalchemy_url_uses_psycopg3() -> None:
    assert sqlalchemy_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValueError, match="postgresql://"):
        sqlalchemy_url("mysql://u@h/db")
