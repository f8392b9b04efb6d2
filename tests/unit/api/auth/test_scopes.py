from __future__ import annotations

import pytest

from api.auth.principal import from_credential, open_principal
from api.auth.scopes import InvalidScopes, Scope, grants, parse_scopes
from db.access_store import CredentialRow


def test_scopes_parse_from_their_names() -> None:
    assert parse_scopes(["jobs:read", " jobs:create "]) == {Scope.JOBS_READ, Scope.JOBS_CREATE}


def test_unknown_scopes_are_named_with_the_valid_ones() -> None:
    with pytest.raises(InvalidScopes, match=r"unknown scope\(s\): jobs:delete, root; scopes are"):
        parse_scopes(["root", "jobs:delete", "jobs:read"])


def test_no_scope_at_all_is_refused() -> None:
    with pytest.raises(InvalidScopes, match="at least one"):
        parse_scopes(["", " "])


def test_admin_grants_everything_and_others_only_themselves() -> None:
    assert all(grants({Scope.ADMIN}, scope) for scope in Scope)
    assert grants({Scope.JOBS_READ}, Scope.JOBS_READ)
    assert not grants({Scope.JOBS_READ, Scope.JOBS_CREATE}, Scope.JOBS_MANAGE)
    assert not grants({Scope.JOBS_MANAGE}, Scope.ADMIN)


def _row(**values: object) -> CredentialRow:
    base: dict[str, object] = {
        "kind": "key",
        "id": 1,
        "name": "ci",
        "scopes": ["jobs:read"],
        "role": None,
        "queues": None,
        "create_rate_per_second": None,
        "expires_at": None,
    }
    return CredentialRow(**{**base, **values})  # type: ignore[arg-type]


def test_a_user_gets_its_roles_scopes_and_a_key_its_own() -> None:
    viewer = from_credential(_row(kind="user", name="ann", scopes=None, role="viewer"), "session")
    assert viewer.name == "user:ann"
    assert viewer.scopes == {Scope.JOBS_READ}
    assert not viewer.can(Scope.JOBS_MANAGE)
    key = from_credential(_row(scopes=["jobs:create", "gone:scope"], queues=["llm"]), "bearer")
    assert key.name == "key:ci"
    assert key.scopes == {Scope.JOBS_CREATE}  # a scope this code does not know grants nothing
    assert key.sees_queue("llm")
    assert not key.sees_queue("video")
    assert not key.sees_queue(None)


def test_everyone_is_admin_on_an_open_api() -> None:
    anyone = open_principal()
    assert anyone.is_admin
    assert anyone.sees_queue("anything")
    assert anyone.via == "open"
