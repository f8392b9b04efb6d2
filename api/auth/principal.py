"""Who is making a request, as every route sees it (``request.state.principal``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from api.auth.scopes import ROLES, Scope, grants
from db.access_store import CredentialRow

#: How the request proved who it is: an ``Authorization: Bearer`` key, a dashboard session
#: cookie, or nothing at all on an API running with ``PGJOBS_AUTH=off``.
Via = Literal["bearer", "session", "open"]

#: The name of everyone on an API without authentication.
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Principal:
    #: Recorded as ``created_by`` and as the actor of cancels and retries:
    #: ``key:<name>``, ``user:<name>`` or ``anonymous``.
    name: str
    scopes: frozenset[Scope]
    #: The only queues whose jobs it sees and touches; None: every queue.
    queues: frozenset[str] | None
    via: Via
    #: Its own limit on job creation (jobs per second), None: the API's default.
    create_rate_per_second: float | None = None

    def can(self, scope: Scope) -> bool:
        return grants(self.scopes, scope)

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def sees_queue(self, queue: str | None) -> bool:
        """Whether jobs of ``queue`` exist for it (a job of another queue is a 404)."""
        return self.queues is None or (queue is not None and queue in self.queues)


def open_principal() -> Principal:
    """Everyone, on an API running without authentication (loopback only)."""
    return Principal(name=ANONYMOUS, scopes=frozenset({Scope.ADMIN}), queues=None, via="open")


def from_credential(row: CredentialRow, via: Via) -> Principal:
    if row.kind == "user":
        scopes = ROLES.get(row.role or "", frozenset())
    else:
        # Scope names the code no longer knows (a downgrade) grant nothing.
        known = {scope.value for scope in Scope}
        scopes = frozenset(Scope(name) for name in row.scopes or () if name in known)
    return Principal(
        name=f"{row.kind}:{row.name}",
        scopes=scopes,
        queues=frozenset(row.queues) if row.queues is not None else None,
        via=via,
        create_rate_per_second=row.create_rate_per_second,
    )
