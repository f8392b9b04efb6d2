"""Every route says who may call it; the guard checks it before anything else runs.

Routers are built with :func:`api_router`, whose routes (:class:`GuardedRoute`)
run, in this order, before FastAPI parses the body or resolves dependencies:

1. the Host header, and who is calling (:meth:`api.auth.access.Access.authenticate`):
   a bearer key, a session cookie, or everyone when authentication is off (401 for a
   bad key); public routes look at no credentials;
2. what the route requires: ``Requires(Scope.X)`` (401 without credentials,
   403 without the scope) or ``PUBLIC``;
3. the query string: no control characters (422);
4. for a state change, that no other website sent it (403, :mod:`api.auth.browser`);
5. a JSON body parsed strictly (422 naming the field, :mod:`api.strict_input`).

So a caller without the right credentials learns nothing from its input: it gets a
401 or a 403 whatever it sends.

A route that declares neither ``Requires`` nor ``PUBLIC`` cannot be built:
forgetting to protect a new route fails at start-up, not in production. The
standard refusals are declared in every route's OpenAPI responses.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from api.auth.access import Access
from api.auth.browser import SAFE_METHODS, check_same_origin
from api.auth.errors import Forbidden, NotAuthenticated
from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.strict_input import check_query, parse_json, wants_json

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (`pgjobs keys create`), as `Authorization: Bearer pgj_...`.",
)


class ErrorBody(BaseModel):
    """Every error the API answers: a code, a sentence, and the fields at fault."""

    error: str
    message: str
    detail: list[dict[str, Any]] | None = None


class Requirement:
    """The dependency a guarded route declares; resolves to the calling :class:`Principal`."""

    def __init__(self, scope: Scope | None, *, login_page: bool = False) -> None:
        #: None: public.
        self.scope = scope
        self.login_page = login_page

    def check(self, principal: Principal | None) -> None:
        if self.scope is None:
            return
        if principal is None:
            raise NotAuthenticated(
                "this needs an API key (Authorization: Bearer) or a dashboard session",
                login_page=self.login_page,
            )
        if not principal.can(self.scope):
            raise Forbidden(f"{principal.name} lacks the {self.scope} scope this needs")

    def __repr__(self) -> str:
        return f"Requirement({self.scope})"


class _Guarded(Requirement):
    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    ) -> Principal:
        principal: Principal = request.state.principal  # checked by GuardedRoute
        return principal


class _Public(Requirement):
    async def __call__(self, request: Request) -> Principal | None:
        principal: Principal | None = request.state.principal
        return principal


def Requires(scope: Scope, *, login_page: bool = False) -> Any:
    """``caller: Annotated[Principal, Requires(Scope.JOBS_READ)]``: needs that scope."""
    return Depends(_Guarded(scope, login_page=login_page))


#: ``dependencies=[PUBLIC]``: anyone may call this route (health, login, ...).
PUBLIC: Any = Depends(_Public(None))


def _responses(requirement: Requirement, methods: set[str]) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "A Host this API does not answer to."},
        422: {"model": ErrorBody, "description": "Invalid input; `detail` names each field."},
    }
    forbidden = ["the API runs without authentication and the client is not on loopback"]
    if requirement.scope is not None:
        responses[401] = {"model": ErrorBody, "description": "No valid API key or session."}
        responses[503] = {"model": ErrorBody, "description": "The database is unreachable."}
        forbidden.insert(0, f"the key or user lacks the `{requirement.scope}` scope")
    if methods - SAFE_METHODS:
        forbidden.append("another website sent this state change (Origin, CSRF token)")
    responses[403] = {
        "model": ErrorBody,
        "description": "Refused: " + "; or ".join(forbidden) + ".",
    }
    return responses


def _find_requirement(endpoint: Callable[..., Any], dependencies: Sequence[Any]) -> Requirement:
    found: list[Requirement] = []
    for dependency in dependencies:
        if isinstance(dependency, DependsParam) and isinstance(dependency.dependency, Requirement):
            found.append(dependency.dependency)
    for hint in typing.get_type_hints(endpoint, include_extras=True).values():
        for meta in getattr(hint, "__metadata__", ()):
            if isinstance(meta, DependsParam) and isinstance(meta.dependency, Requirement):
                found.append(meta.dependency)
    name = getattr(endpoint, "__qualname__", endpoint)
    if len(found) != 1:
        raise RuntimeError(
            f"{name} must declare exactly one access rule (Requires(...) or PUBLIC); "
            f"found {found or 'none'}"
        )
    return found[0]


class GuardedRoute(APIRoute):
    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        responses: dict[int | str, dict[str, Any]] | None = None,
        dependencies: Sequence[Any] | None = None,
        methods: set[str] | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.requirement = _find_requirement(endpoint, dependencies or ())
        standard = _responses(self.requirement, {m.upper() for m in methods or ("GET",)})
        super().__init__(
            path,
            endpoint,
            responses={**standard, **(responses or {})},
            dependencies=dependencies,
            methods=methods,
            **kwargs,
        )

    def get_route_handler(self) -> Callable[[Request], Any]:
        handle = super().get_route_handler()
        requirement = self.requirement
        public = requirement.scope is None
        reads_body = self.body_field is not None

        async def guarded(request: Request) -> Response:
            access: Access = request.app.state.access
            access.check_host(request)
            # a public route looks at no credentials (a bad one must not break /health)
            principal = None if public else await access.authenticate(request)
            request.state.principal = principal
            requirement.check(principal)
            check_query(request)
            check_same_origin(request, principal, allowed_origins=access.settings.cors_origins)
            if reads_body and wants_json(request):
                body = await request.body()
                if body:
                    # Starlette's Request.json() returns this instead of parsing again.
                    request._json = parse_json(body, max_depth=access.settings.max_json_depth)
            response: Response = await handle(request)
            return response

        return guarded


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes are guarded (every router of the API is built with this)."""
    return APIRouter(route_class=GuardedRoute, **kwargs)


#: The principal of a request, for code below the route (set by GuardedRoute).
def principal_of(request: Request) -> Principal | None:
    found: Principal | None = getattr(request.state, "principal", None)
    return found
