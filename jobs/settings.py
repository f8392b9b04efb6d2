"""The one settings class of pgjobs.

Built explicitly (``load_settings()`` in the app factory, the CLI and the
worker's pool factory), never at import time, so tests can pass
``Settings(...)`` directly and two differently configured apps can coexist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class SettingsError(Exception):
    """Settings failed validation; the message names every bad variable."""


class Settings(BaseSettings):
    """pgjobs configuration, from ``DATABASE_URL`` and ``PGJOBS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="PGJOBS_", extra="ignore", frozen=True)

    #: libpq URL of the Postgres that holds jobs; ``None`` means "start an embedded one" (dev only).
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PGJOBS_DATABASE_URL")
    )
    #: ``dev`` allows the embedded Postgres; ``production`` requires ``DATABASE_URL``.
    environment: Literal["dev", "test", "production"] = "dev"
    #: Interface and port of the HTTP API.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    #: Requests with a larger body are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=MIB, gt=0)
    #: Connection pool bounds for one process (API + procrastinate share it).
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    #: Seconds to wait for a pooled connection before answering 503.
    pool_timeout: float = Field(default=10.0, gt=0)
    #: Jobs a worker runs at once (``procrastinate worker --concurrency`` overrides it).
    worker_concurrency: int = Field(default=4, ge=1)
    #: A worker whose heartbeat is older than this is not counted as alive by /health.
    worker_stalled_after_seconds: float = Field(default=30.0, gt=0)
    #: Where ``pgjobs dev`` keeps its embedded Postgres.
    data_dir: Path = Path(".pgjobs")
    #: Page size of GET /jobs when the client gives none, and its upper bound.
    default_page_size: int = Field(default=50, ge=1, le=1000)
    max_page_size: int = Field(default=500, ge=1, le=10_000)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    def require_database_url(self) -> str:
        """The database URL, or a clear error when none is configured."""
        if self.database_url is None:
            raise SettingsError("DATABASE_URL is not set (it is required outside `pgjobs dev`)")
        return self.database_url


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one clear message."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors()
        )
        raise SettingsError(f"invalid pgjobs settings: {problems}") from None
    if settings.environment == "production" and settings.database_url is None:
        raise SettingsError("PGJOBS_ENVIRONMENT=production requires DATABASE_URL")
    if settings.pool_min_size > settings.pool_max_size:
        raise SettingsError("PGJOBS_POOL_MIN_SIZE must not exceed PGJOBS_POOL_MAX_SIZE")
    return settings
