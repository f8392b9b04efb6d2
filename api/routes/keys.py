"""/keys: API keys, for admins (the same operations as ``pgjobs keys``).

A key's token is in the answer to its creation (or rotation) only; every other
answer shows its first characters (``token_prefix``), never the secret.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from fastapi import Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import accounts
from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.deps import ServicesDep
from api.routing import ErrorBody, Requires, api_router
from db.access_store import ApiKeyRow
from jobs.tasks.registry import QUEUE_NAME

router = api_router(tags=["keys"])

KEY_NAME = accounts.NAME.pattern
DURATION = r"^[0-9]{1,6}[smhd]$"
Admin = Annotated[Principal, Requires(Scope.ADMIN)]
KeyName = Annotated[str, Path(pattern=KEY_NAME, max_length=64)]


class ApiKey(BaseModel):
    """An API key, without its secret."""

    name: str
    token_prefix: str = Field(description="The token's first characters: which key a token is.")
    state: str = Field(description="live, expired or revoked")
    scopes: list[Scope]
    queues: list[str] | None = Field(description="null: every queue")
    create_rate_per_second: float | None = Field(description="null: the API's default")
    created_at: datetime.datetime
    created_by: str | None
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    revoked_by: str | None
    last_used_at: datetime.datetime | None = Field(description="Recorded at most once a minute.")


class NewApiKey(ApiKey):
    token: str = Field(description="The secret, shown this once: only its hash is kept.")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=KEY_NAME, max_length=64, description="Unique, never reused.")
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    queues: list[Annotated[str, Field(pattern=QUEUE_NAME.pattern, max_length=40)]] | None = Field(
        default=None, min_length=1, max_length=100, description="null: every queue"
    )
    expires: str | None = Field(
        default=None, pattern=DURATION, description="Lifetime: 90d, 12h, 30m or 3600s."
    )
    create_rate_per_second: float | None = Field(default=None, gt=0, le=1_000_000)


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_name: str = Field(pattern=KEY_NAME, max_length=64)
    grace: str = Field(
        default="1h", pattern=DURATION, description="How long the old key keeps working."
    )


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        name=row.name,
        token_prefix=row.token_prefix,
        state=_state(row),
        scopes=[Scope(name) for name in row.scopes if name in Scope._value2member_map_],
        queues=row.queues,
        create_rate_per_second=row.create_rate_per_second,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        last_used_at=row.last_used_at,
    )


def _state(row: ApiKeyRow) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= datetime.datetime.now(datetime.UTC):
        return "expired"
    return "live"


def _new(created: accounts.CreatedKey) -> NewApiKey:
    return NewApiKey(**_key(created.key).model_dump(), token=created.token)


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No live key has this name."}
}


@router.get("/keys")
async def list_keys(
    services: ServicesDep,
    caller: Admin,
    include_inactive: Annotated[bool, Query(description="Revoked and expired keys too.")] = False,
) -> list[ApiKey]:
    """Every live key (with ``include_inactive``: every key), newest first."""
    async with services.pool.connection() as conn:
        rows = await accounts.list_keys(conn, include_inactive=include_inactive)
    return [_key(row) for row in rows]


@router.post("/keys", status_code=status.HTTP_201_CREATED)
async def create_key(
    body: ApiKeyCreate, response: Response, services: ServicesDep, caller: Admin
) -> NewApiKey:
    """Create a key; the answer holds its token, which is never shown again."""
    async with services.pool.connection() as conn:
        created = await accounts.create_key(
            conn,
            name=body.name,
            scopes=[scope.value for scope in body.scopes],
            queues=body.queues,
            expires_in=accounts.parse_duration(body.expires) if body.expires else None,
            create_rate_per_second=body.create_rate_per_second,
            created_by=caller.name,
        )
    response.headers["Location"] = f"/keys/{created.key.name}"
    return _new(created)


@router.post("/keys/{name}/revoke", responses=_NOT_FOUND)
async def revoke_key(name: KeyName, services: ServicesDep, caller: Admin) -> ApiKey:
    """Revoke a key: every API process refuses it within a second."""
    async with services.pool.connection() as conn:
        return _key(await accounts.revoke_key(conn, name, revoked_by=caller.name))


@router.post("/keys/{name}/rotate", status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND)
async def rotate_key(
    name: KeyName, body: ApiKeyRotate, services: ServicesDep, caller: Admin
) -> NewApiKey:
    """A new key with this one's scopes, queues and rate; this one expires after ``grace``."""
    async with services.pool.connection() as conn:
        created = await accounts.rotate_key(
            conn,
            name,
            new_name=body.new_name,
            grace=accounts.parse_duration(body.grace, "grace"),
            created_by=caller.name,
        )
    return _new(created)
