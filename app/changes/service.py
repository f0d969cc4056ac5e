"""Create, update and retract any evidence record: one path for every kind.

Every write checks what it links to, keeps a revision and an audit event, and commits with
them or not at all. Updates and retractions need the ETag the client last saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.base import ExecutableOption

from app.audit import repository as audit
from app.audit.schemas import AuditAction
from app.auth.scopes import Principal
from app.changes.revisions import Action, record_revision
from app.claims.models import Claim
from app.claims.repository import claim_input
from app.db.base import EvidenceRecord, Quoted
from app.facilities.models import Facility, FacilityMention
from app.facilities.repository import facility_input
from app.kit.conditional import etag_of, matches
from app.kit.errors import FieldError, ProblemError, not_found
from app.kit.listing import one_of
from app.kit.protection import ProtectionLevel
from app.kit.schemas import SINGULAR, RecordIn, RecordStatus, is_slug
from app.organizations.models import Organization
from app.sources.models import Source
from app.sources.quotes import QuoteMismatchError, rests_on_retracted
from app.testimonies.models import Testimony, TestimonyExcerpt
from app.testimonies.repository import testimony_input

Row = TypeVar("Row", bound=EvidenceRecord)
In = TypeVar("In", bound=RecordIn)

MODELS: dict[str, type[EvidenceRecord]] = {
    "organizations": Organization,
    "sources": Source,
    "facilities": Facility,
    "testimonies": Testimony,
    "claims": Claim,
}


@dataclass(frozen=True)
class RecordKind(Generic[Row, In]):
    """What the write path needs to know about one kind of record."""

    plural: str
    model: type[Row]
    create_schema: type[In]
    update_schema: type[BaseModel]
    # Everything `as_input` and the presenter read, loaded with the row.
    loads: tuple[ExecutableOption, ...]
    as_input: Callable[[Row], In]
    new: Callable[[In], Row]
    # Apply validated input onto a row (new or existing), loading what it links to.
    write: Callable[[AsyncSession, In, Row], Awaitable[object]]
    visible: Callable[[Principal], ColumnElement[bool] | None]
    # The protection level the record is served at (needs the row's loads).
    level: Callable[[Row], ProtectionLevel] = lambda _row: ProtectionLevel.public
    # The fields a PATCH is merged onto; values the schema derives are left out, so that
    # they follow the fields they derive from.
    patch_base: Callable[[In], dict[str, Any]] = lambda data: data.model_dump()

    @property
    def singular(self) -> str:
        return SINGULAR[self.plural]


def _validation_problem(error: ValidationError) -> ProblemError:
    errors = [
        FieldError(
            location="body",
            name=".".join(str(p) for p in detail["loc"]) or "body",
            message=detail["msg"],
        )
        for detail in error.errors()
    ]
    return ProblemError(422, "validation-error", "The record is not valid.", errors=errors)


async def check_references(session: AsyncSession, data: RecordIn) -> None:
    """A 422 naming every field that points at a record that does not exist."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for _, kind, target in data.references():
        wanted[kind].add(target)
    existing: dict[str, set[str]] = {}
    for kind, ids in wanted.items():
        model = MODELS[kind]
        existing[kind] = set(await session.scalars(select(model.id).where(one_of(model.id, ids))))
    missing = [
        FieldError(
            location="body", name=field, message=f"no {SINGULAR[kind]} has the id {target!r}"
        )
        for field, kind, target in data.references()
        if target not in existing[kind]
    ]
    if missing:
        raise ProblemError(
            422,
            "unknown-reference",
            "The record refers to records that do not exist.",
            errors=missing,
        )


async def _apply(kind: RecordKind[Row, In], session: AsyncSession, data: In, row: Row) -> None:
    await check_references(session, data)
    try:
        await kind.write(session, data, row)
    except QuoteMismatchError as error:
        raise ProblemError(
            422,
            "quote-mismatch",
            "A quote does not stand in its source's archived text as given.",
            errors=[FieldError(location="body", name=error.field, message=str(error))],
        ) from None


@dataclass
class WriteContext:
    """Who writes, and where the request came in (for the audit trail)."""

    principal: Principal
    method: str
    route: str
    path: str


def _audit_write(session: AsyncSession, context: WriteContext, records: Sequence[str]) -> None:
    audit.record(
        session,
        key_id=context.principal.key_id,
        action=AuditAction.write,
        method=context.method,
        route=context.route,
        path=context.path,
        records=records,
    )


async def create(
    session: AsyncSession, kind: RecordKind[Row, In], data: In, context: WriteContext
) -> Row:
    if await session.get(kind.model, data.id) is not None:
        raise ProblemError(
            409, "conflict", f"There is already a {kind.singular} with the id {data.id!r}."
        )
    row = kind.new(data)
    await _apply(kind, session, data, row)
    record_revision(
        session,
        kind.plural,
        row,
        action=Action.created,
        before=None,
        after=kind.as_input(row),  # as stored: with the locators the server found
        key_id=context.principal.key_id,
    )
    await session.flush()
    _audit_write(session, context, [f"{kind.plural}/{row.id}"])
    return row


async def _locked(
    session: AsyncSession, kind: RecordKind[Row, In], record_id: str, principal: Principal
) -> Row:
    """The row, locked until the transaction ends, so concurrent writers take turns."""
    if not is_slug(record_id):
        raise not_found(kind.singular, record_id)
    conditions = [c for c in (kind.visible(principal),) if c is not None]
    statement = (
        select(kind.model)
        .options(*kind.loads)
        .where(kind.model.id == record_id, *conditions)
        .with_for_update(of=kind.model)
    )
    row = await session.scalar(statement)
    if row is None:
        raise not_found(kind.singular, record_id)
    return row


def check_version(row: EvidenceRecord, if_match: str | None, principal: Principal) -> None:
    """If-Match must name the version the client last saw: 428 without, 412 when stale."""
    if if_match is None:
        raise ProblemError(
            428,
            "precondition-required",
            "Send If-Match with the record's ETag, so that a change made meanwhile is not lost.",
        )
    tag = etag_of(row.version, principal.tier)
    if not matches(if_match, tag, strong=True):
        raise ProblemError(
            412,
            "precondition-failed",
            f"The record has changed (it is at version {row.version}); fetch it again.",
            headers={"ETag": tag},
        )


async def update(
    session: AsyncSession,
    kind: RecordKind[Row, In],
    record_id: str,
    patch: BaseModel,
    if_match: str | None,
    context: WriteContext,
    reason: str | None = None,
) -> Row:
    row = await _locked(session, kind, record_id, context.principal)
    check_version(row, if_match, context.principal)
    if row.status is RecordStatus.retracted:
        raise ProblemError(409, "retracted", f"The {kind.singular} {record_id!r} is retracted.")
    before = kind.as_input(row)
    changes = patch.model_dump(exclude_unset=True)
    merged: dict[str, Any] = kind.patch_base(before) | changes
    if {"source", "quote"} & changes.keys() and "locator" not in changes and "locator" in merged:
        merged["locator"] = None  # a new quote or source: find the quote again
    try:
        data = kind.create_schema.model_validate(merged)
    except ValidationError as error:
        raise _validation_problem(error) from None
    if data.model_dump(mode="json") == before.model_dump(mode="json"):
        return row  # nothing changed: no new version
    await _apply(kind, session, data, row)
    record_revision(
        session,
        kind.plural,
        row,
        action=Action.updated,
        before=before,
        after=kind.as_input(row),
        key_id=context.principal.key_id,
        reason=reason,
    )
    await session.flush()
    _audit_write(session, context, [f"{kind.plural}/{row.id}"])
    return row


async def retract(
    session: AsyncSession,
    kind: RecordKind[Row, In],
    record_id: str,
    reason: str,
    if_match: str | None,
    context: WriteContext,
) -> Row:
    row = await _locked(session, kind, record_id, context.principal)
    check_version(row, if_match, context.principal)
    if row.status is RecordStatus.retracted:
        raise ProblemError(409, "retracted", f"The {kind.singular} {record_id!r} is retracted.")
    state = kind.as_input(row)
    row.mark(RecordStatus.retracted, reason)
    record_revision(
        session,
        kind.plural,
        row,
        action=Action.retracted,
        before=state,
        after=state,
        key_id=context.principal.key_id,
        reason=reason,
    )
    touched = [f"{kind.plural}/{row.id}"]
    if kind.plural in ("sources", "testimonies"):
        touched += await _unsupport_dependents(session, kind.plural, row.id, reason, context)
    await session.flush()
    _audit_write(session, context, touched)
    return row


@dataclass(frozen=True)
class _Quoting:
    """A kind of record that holds quotes of sources: testimonies (excerpts), facilities
    (mentions)."""

    plural: str
    model: type[EvidenceRecord]
    quote_model: type[Quoted]
    owner: Any  # the quote's column naming its record
    quotes: Any  # the record's relationship to its quotes
    loads: tuple[ExecutableOption, ...]
    as_input: Callable[[Any], RecordIn]


TESTIMONIES_QUOTING = _Quoting(
    "testimonies",
    Testimony,
    TestimonyExcerpt,
    TestimonyExcerpt.testimony_id,
    Testimony.excerpts,
    (selectinload(Testimony.facilities), selectinload(Testimony.excerpts)),
    testimony_input,
)
FACILITIES_QUOTING = _Quoting(
    "facilities",
    Facility,
    FacilityMention,
    FacilityMention.facility_id,
    Facility.mentions,
    (selectinload(Facility.aliases), selectinload(Facility.mentions)),
    facility_input,
)


async def _unsupport_quotes(
    session: AsyncSession, quoting: _Quoting, source_id: str, why: str, context: WriteContext
) -> list[str]:
    quotes = quoting.quote_model
    cites = (quotes.source_id == source_id) | (quotes.relayed_from_id == source_id)
    records = await session.scalars(
        select(quoting.model)
        .options(*quoting.loads)
        .where(quoting.model.id.in_(select(quoting.owner).where(cites)))
        .with_for_update(of=quoting.model)
    )
    touched = []
    for record in records:
        state = quoting.as_input(record)
        for quote in getattr(record, quoting.quotes.key):
            if source_id in quote.quoted_ids():
                quote.status, quote.status_reason = RecordStatus.unsupported, why
        record_revision(
            session,
            quoting.plural,
            record,
            action=Action.unsupported,
            before=state,
            after=state,
            key_id=context.principal.key_id,
            reason=why,
        )
        touched.append(f"{quoting.plural}/{record.id}")
    return touched


async def _unsupport_dependents(
    session: AsyncSession, plural: str, record_id: str, reason: str, context: WriteContext
) -> list[str]:
    """Claims and excerpts that rest on a retracted source or testimony lose their support."""
    why = rests_on_retracted(SINGULAR[plural], record_id, reason)
    touched = []
    if plural == "sources":
        rests_on = (Claim.source_id == record_id) | (Claim.relayed_from_id == record_id)
        # Records quoting the source get a new version too: their citations change, and
        # mirrors must hear of it.
        for quoting in (TESTIMONIES_QUOTING, FACILITIES_QUOTING):
            touched += await _unsupport_quotes(session, quoting, record_id, why, context)
    else:
        rests_on = (Claim.claimant_testimony_id == record_id) | (
            Claim.about_testimony_id == record_id
        )
    claims = await session.scalars(
        select(Claim).where(rests_on, Claim.status == RecordStatus.active).with_for_update()
    )
    for claim in claims:
        state = claim_input(claim)
        claim.mark(RecordStatus.unsupported, why)
        record_revision(
            session,
            "claims",
            claim,
            action=Action.unsupported,
            before=state,
            after=state,
            key_id=context.principal.key_id,
            reason=why,
        )
        touched.append(f"claims/{claim.id}")
    return touched
