"""A few guarded routes added to a real app, to test the guard apart from any one route."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.routing import PUBLIC, Requires, api_router

probe = api_router(prefix="/probe")


@probe.get("/read")
async def read(caller: Annotated[Principal, Requires(Scope.JOBS_READ)]) -> dict[str, Any]:
    return {"name": caller.name, "via": caller.via}


@probe.post("/manage")
async def manage(caller: Annotated[Principal, Requires(Scope.JOBS_MANAGE)]) -> dict[str, Any]:
    return {"name": caller.name}


@probe.post("/echo")
async def echo(
    body: dict[str, Any], caller: Annotated[Principal, Requires(Scope.JOBS_CREATE)]
) -> dict[str, Any]:
    return body


@probe.get("/public", dependencies=[PUBLIC])
async def public() -> dict[str, Any]:
    return {"ok": True}


def with_probe(app: FastAPI) -> FastAPI:
    app.include_router(probe)
    return app
