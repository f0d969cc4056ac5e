"""Per-request identity and access: every /v1 route declares the scope it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.keys import find_key
from app.auth.scopes import Principal, Scope
from app.db.engine import SessionDep, before_commit
from app.kit.errors import ProblemError
from app.kit.protection import ProtectionLevel, SourceTextAccess, strictest

R = TypeVar("R")
T = TypeVar("T")
REQUIRED_SCOPES = "x-required-scopes"
# Marks a route that answers with no part of any record (an import report, the audit trail
# of requests): the one kind of /v1 route that need not go through the disclosure policy.
NO_RECORD_DATA = "x-no-record-data"
_CHALLENGE = 'Bearer realm="testimony-api"'
# Writes the records a request showed in full (type/id -> level) to the audit trail, in the
# request's transaction. The audit trail sits above the policy, so the app installs it
# (`app.state.record_disclosure`).
RecordDisclosure = Callable[
    [AsyncSession, Request, Principal, Mapping[str, ProtectionLevel]], Awaitable[None]
]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        detail,
        headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
    )


async def get_principal(request: Request, session: SessionDep) -> Principal:
    """Anonymous without an Authorization header; a wrong or revoked key is a 401."""
    address = request.client.host if request.client else "unknown"
    header = request.headers.get("authorization")
    if header is None:
        return Principal(key_id=None, scopes=frozenset(), address=address)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        anonymous = Principal(key_id=None, scopes=frozenset(), address=address)
        await request.app.state.rate_limiter.check(anonymous, request)
        raise _unauthorized("Send the API key as 'Authorization: Bearer <key>'.")
    key = await find_key(session, token.strip())
    if key is None:
        # Failed attempts count against the address, so keys cannot be guessed at speed.
        anonymous = Principal(key_id=None, scopes=frozenset(), address=address)
        await request.app.state.rate_limiter.check(anonymous, request)
        raise _unauthorized("The API key is not valid, or it has been revoked.")
    scopes = frozenset(Scope(s) for s in key.scopes if s in Scope._value2member_map_)
    return Principal(key_id=key.id, scopes=scopes, address=address)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def _within_rate_limit(request: Request, principal: PrincipalDep) -> Principal:
    await request.app.state.rate_limiter.check(principal, request)
    return principal


def access(
    scope: Scope | None,
    openapi_extra: dict[str, Any] | None = None,
    *,
    record_data: bool = True,
) -> dict[str, Any]:
    """Route options that enforce `scope` (None: anyone, anonymous included) after the
    rate limit, and declare it in the OpenAPI document. A route that serves no record data
    says so with `record_data=False`; every other one must take the `Viewer`, the disclosure
    policy (the app refuses to start otherwise)."""

    async def require(principal: Annotated[Principal, Depends(_within_rate_limit)]) -> None:
        if scope is None or principal.has(scope):
            return
        if principal.key_id is None:
            raise ProblemError(
                401,
                "unauthorized",
                f"This needs an API key with the {scope} scope.",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        raise ProblemError(403, "forbidden", f"This API key lacks the {scope} scope.")

    return {
        "dependencies": [Depends(require)],
        "openapi_extra": (openapi_extra or {})
        | {REQUIRED_SCOPES: [scope.value] if scope else []}
        | ({} if record_data else {NO_RECORD_DATA: True}),
    }


@dataclass
class Viewer:
    """The client's view of the data: what it may see, and a log of the sensitive records it
    was shown, which is written to the audit trail with the request's transaction."""

    principal: Principal
    disclosed: dict[str, ProtectionLevel] = field(default_factory=dict)
    # While a record is being presented: what its presentation disclosed (a stored view
    # keeps it, to audit whoever reads the view).
    presenting: str | None = None
    disclosed_by: dict[str, dict[str, ProtectionLevel]] = field(default_factory=dict)
    # The server's SOURCE_TEXT_ACCESS; the strictest unless the request's app says otherwise.
    source_text_access: SourceTextAccess = SourceTextAccess.restricted

    def shows_in_full(self, level: ProtectionLevel, record: str) -> bool:
        """Whether to show a record of `level` uncoarsened; logs it when it is sensitive."""
        full = self.principal.sees_in_full(level)
        if full and level is not ProtectionLevel.public:
            self.disclosed[record] = strictest(self.disclosed.get(record), level)
            if self.presenting is not None:
                mine = self.disclosed_by.setdefault(self.presenting, {})
                mine[record] = strictest(mine.get(record), level)
        return full

    @property
    def clients(self) -> tuple[Principal, ...]:
        """Whom a presentation is for: the request's client. (A rendering presents for
        several access tiers at once, see `app.views.rendering`.)"""
        return (self.principal,)

    def hides(self, level: ProtectionLevel) -> bool:
        """Whether this client must not learn that a record of `level` exists."""
        return level in self.principal.hidden_levels

    def of_tier(self, values: Mapping[str, T]) -> T:
        """This client's value, of one computed for the tier of each of `clients` (by tier
        name): a figure that counts only what the tier may see."""
        return values[self.principal.tier]

    def note_disclosed(self, disclosed: Mapping[str, str]) -> None:
        """Log what a stored view, shown to this client, disclosed when it was rendered."""
        for record, level in disclosed.items():
            self.disclosed[record] = strictest(self.disclosed.get(record), ProtectionLevel(level))

    def each(
        self, records: Iterable[R], path: Callable[[R], str], present: Callable[[R], T]
    ) -> list[T]:
        """`present` applied to every record, each presentation's disclosures noted apart."""
        shown = []
        for record in records:
            self.presenting = path(record)
            try:
                shown.append(present(record))
            finally:
                self.presenting = None
        return shown

    def reads_archived_texts(self) -> bool:
        """Whether this client is served the full archived copies of third-party texts."""
        match self.source_text_access:
            case SourceTextAccess.public:
                return True
            case SourceTextAccess.keys:
                return self.principal.key_id is not None
            case SourceTextAccess.restricted:
                return self.principal.sees_in_full(ProtectionLevel.restricted)

    def archived_text_refusal(self) -> str:
        """Why this client is not served archived texts (see LICENSE-data.md)."""
        who = {
            SourceTextAccess.keys: "clients with an API key",
            SourceTextAccess.restricted: "API keys with read:restricted",
        }[self.source_text_access]
        return (
            "The archived copy of a third-party text is kept to verify quotes, not to "
            f"republish it: this server serves it only to {who}. Every record's quotes are "
            "served with it, with their locators; the source's url leads to the original."
        )


async def get_viewer(request: Request, session: SessionDep, principal: PrincipalDep) -> Viewer:
    viewer = Viewer(principal, source_text_access=request.app.state.settings.source_text_access)
    record_disclosure: RecordDisclosure = request.app.state.record_disclosure

    async def audit_disclosures(session: AsyncSession) -> None:
        if viewer.disclosed:
            await record_disclosure(session, request, principal, viewer.disclosed)

    before_commit(request, audit_disclosures)
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]
