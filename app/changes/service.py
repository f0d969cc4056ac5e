"""Create, update and retract any evidence record: one path for every kind, for single
writes and for imports alike.

Every write checks what it links to, keeps a revision and an audit event, and commits with
them or not at all. Updates and retractions need the ETag the client last saw.

A client writes only what it reads in full, and refers only to what it may read: `authorize`
decides it for every kind and every write, from the kind's `level` and `visible`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, Select, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ExecutableOption

from app.audit import repository as audit
from app.audit.schemas import AuditAction
from app.auth.scopes import Principal, Scope
from app.changes.revisions import Action, Writer, record_revision
from app.db.base import EvidenceRecord
from app.kit.conditional import any_version, matches, version_tag
from app.kit.errors import FieldError, ProblemError, not_found
from app.kit.protection import ProtectionLevel
from app.kit.schemas import (
    SINGULAR,
    QuoteMismatchError,
    RecordIn,
    RecordStatus,
    is_slug,
    rests_on_retracted,
)
from app.reading.listing import held, one_of
from app.views.serving import VIEW_COLUMNS, of_tier, view_etag

Row = TypeVar("Row", bound=EvidenceRecord)
In = TypeVar("In", bound=RecordIn)


class QuoteLevels(Protocol):
    """The level each quote of some sources is served at (the disclosure policy of quotes)."""

    def of(
        self,
        owner_level: ProtectionLevel,
        source_id: str,
        relayed_from_id: str | None,
        span: tuple[int, int] | None,
        words: str,
        record: str,
    ) -> ProtectionLevel: ...


@dataclass(frozen=True)
class RestsOn:
    """Records of a kind that rest on records of another kind (a claim on its source and on
    its testimonies, an excerpt on its source): when one of those is retracted, they lose
    their support and get a version of their own saying why."""

    kind: str  # the plural of the kind rested on
    # The records resting on the record with this id, loaded as the kind's `as_input`
    # needs and locked.
    resting: Callable[[str], Select[Any]]
    # Mark what of a resting record rests on the retracted record (id, why).
    unsupport: Callable[[Any, str, str], None]


async def _unchanged(_session: AsyncSession, data: In) -> In:
    return data


@dataclass(frozen=True)
class RecordKind(Generic[Row, In]):
    """What the write path needs to know about one kind of record."""

    plural: str
    model: type[Row]
    create_schema: type[In]
    update_schema: type[BaseModel]
    # Everything `as_input`, `level` and the presenter read, loaded with the row.
    loads: tuple[ExecutableOption, ...]
    as_input: Callable[[Row], In]
    new: Callable[[In], Row]
    # Apply validated input onto a row (new or existing), loading what it links to.
    write: Callable[[AsyncSession, In, Row], Awaitable[object]]
    # The rows this client may learn exist (None: all of them).
    visible: Callable[[Principal], ColumnElement[bool] | None]
    # The protection level a client must read in full to have the whole record: to read its
    # revisions, and to write it (needs the row's loads).
    level: Callable[[Row], ProtectionLevel] = lambda _row: ProtectionLevel.public
    # The fields a PATCH is merged onto; values the schema derives are left out, so that
    # they follow the fields they derive from.
    patch_base: Callable[[In], dict[str, Any]] = lambda data: data.model_dump()
    # Fields holding a third-party text in full: a revision holding one is shown only to
    # clients served archived texts (SOURCE_TEXT_ACCESS).
    archived_fields: frozenset[str] = frozenset()
    # The input as the write would store it (with the locators it would find for its
    # quotes), so that a record sent without them compares equal to the one stored.
    as_stored: Callable[[AsyncSession, In], Awaitable[In]] = _unchanged
    # What records of this kind rest on: retracting one of those unsupports them.
    rests_on: tuple[RestsOn, ...] = ()
    # For a kind holding quotes of sources: the levels of the quotes of these sources.
    quote_levels: Callable[[AsyncSession, Iterable[str]], Awaitable[QuoteLevels]] | None = None

    def __post_init__(self) -> None:
        KINDS[self.plural] = self  # what references to this kind are checked against

    @property
    def singular(self) -> str:
        return SINGULAR[self.plural]


# Every kind of record, by its plural, as declared with its routes.
KINDS: dict[str, RecordKind[Any, Any]] = {}


def kinds() -> list[RecordKind[Any, Any]]:
    """The declared kinds, in the order they refer to each other."""
    return [KINDS[plural] for plural in SINGULAR if plural in KINDS]


def record_kind(plural: str) -> RecordKind[Any, Any]:
    try:
        return KINDS[plural]
    except KeyError:
        raise RuntimeError(f"no record kind {plural!r} is declared (import app.kinds)") from None


# --- Who may write what ----------------------------------------------------------------------

_SCOPE_TO_READ = {
    ProtectionLevel.restricted: Scope.read_restricted,
    ProtectionLevel.confidential: Scope.read_confidential,
}


def may_write(kind: RecordKind[Row, In], principal: Principal, row: Row) -> bool:
    """Whether this client reads the record in full, as it stands: the condition of every
    write of it. A record hidden from the client is never read in full."""
    return principal.sees_in_full(kind.level(row))


def authorize(
    kind: RecordKind[Row, In], principal: Principal, row: Row, *, written: bool = False
) -> None:
    """Refuse a write of a record the client does not read in full: the one decision of what
    a client may write, for every kind and every write (create, update, retract, import).

    `row` was found among the records the client may see (`kind.visible`; a hidden one is a
    404 exactly like a missing id before it gets here). A record the client sees coarsened
    is a 403 naming the scope it needs, before the write; and so is a write that would leave
    the record at a level the client does not read in full (`written`: the row as stored
    after the write), and the transaction rolls back with it.
    """
    if may_write(kind, principal, row):
        return
    level = kind.level(row)
    scope = _SCOPE_TO_READ[level]
    # "In part": a testimony may hold an excerpt stricter than itself.
    record = f"The {kind.singular} would be" if written else f"The {kind.singular} {row.id!r} is"
    detail = f"{record} {level}, in whole or in part: writing it needs {scope}."
    raise ProblemError(403, "forbidden", detail)


def _sees_everything(principal: Principal) -> bool:
    return all(principal.sees_in_full(level) for level in ProtectionLevel)


async def _authorize_written(
    session: AsyncSession, kind: RecordKind[Row, In], row: Row, principal: Principal
) -> None:
    """The record as the write left it, re-read with what its level depends on (a claim's
    testimonies), must be one the client reads in full."""
    if _sees_everything(principal):
        return  # no level is kept from it: nothing to re-read
    await session.flush()
    stored = await session.scalar(
        select(kind.model)
        .options(*kind.loads)
        .where(kind.model.id == row.id)
        .execution_options(populate_existing=True)
    )
    assert stored is not None, "a record just written is there"
    authorize(kind, principal, stored, written=True)


def id_unavailable(record_id: str) -> ProblemError:
    """The answer to an id held by a record the client may not write: the same whether it
    may see that record coarsened or not at all, so that it tells only that the id is taken."""
    return ProblemError(
        409, "id-unavailable", f"The id {record_id!r} cannot be used; choose another."
    )


# --- References --------------------------------------------------------------------------


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


async def unknown_references(
    session: AsyncSession,
    principal: Principal,
    records: Sequence[RecordIn],
    known: Mapping[str, Collection[str]] | None = None,
) -> list[tuple[int, FieldError]]:
    """(index in `records`, field) for every link to a record that does not exist or that
    the client may not see: both answer alike, so that a reference tells nothing of records
    hidden from it. `known`: ids (by kind) to take as existing, such as those of an import."""
    known = known or {}
    wanted: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for _, kind, target in record.references():
            if target not in known.get(kind, ()):
                wanted[kind].add(target)
    found: dict[str, set[str]] = defaultdict(set)
    for kind, ids in wanted.items():
        model = record_kind(kind).model
        visible = record_kind(kind).visible(principal)
        if visible is None:  # every row is visible to the client: one in the session exists
            found[kind] = set(held(session, model, ids))
            ids = ids - found[kind]
        if ids:
            conditions = [c for c in (visible,) if c is not None]
            statement = select(model.id).where(one_of(model.id, ids), *conditions)
            found[kind] |= set(await session.scalars(statement))
    return [
        (
            index,
            FieldError(
                location="body", name=field, message=f"no {SINGULAR[kind]} has the id {target!r}"
            ),
        )
        for index, record in enumerate(records)
        for field, kind, target in record.references()
        if target not in found[kind] and target not in known.get(kind, ())
    ]


async def check_references(session: AsyncSession, data: RecordIn, principal: Principal) -> None:
    """A 422 naming every field that points at a record that does not exist, or that this
    client may not see."""
    missing = [error for _, error in await unknown_references(session, principal, [data])]
    if missing:
        raise ProblemError(
            422,
            "unknown-reference",
            "The record refers to records that do not exist.",
            errors=missing,
        )


async def _apply(
    kind: RecordKind[Row, In], session: AsyncSession, data: In, row: Row, principal: Principal
) -> None:
    await check_references(session, data, principal)
    try:
        await kind.write(session, data, row)
    except QuoteMismatchError as error:
        raise ProblemError(
            422,
            "quote-mismatch",
            "A quote does not stand in its source's archived text as given.",
            errors=[FieldError(location="body", name=error.field, message=str(error))],
        ) from None


# --- Writes ----------------------------------------------------------------------------------


@dataclass
class WriteContext:
    """Who writes, and where the request came in (for the audit trail)."""

    principal: Principal
    method: str
    route: str
    path: str
    # One audit event for all the writes (an import), written by the caller with
    # `audit_written`, rather than one per write.
    batch: bool = False
    # The records written so far, as `type/id`.
    written: list[str] = field(default_factory=list)
    # Told of each id refused as unavailable (`type/id`), to audit the refusal although the
    # transaction that met it rolls back.
    refused: Callable[[str], None] | None = None
    # Ids (by kind) that no record held when an import looked them up in bulk, in this
    # transaction: creating one needs no look-up of its own.
    vacant: dict[str, set[str]] = field(default_factory=dict)
    written_by: Writer = Writer.api


def _audit_write(session: AsyncSession, context: WriteContext, records: Sequence[str]) -> None:
    context.written.extend(records)
    if not context.batch:
        _audit(session, context, records)


def audit_written(session: AsyncSession, context: WriteContext) -> None:
    """The audit event of a batch of writes (see `WriteContext.batch`), when it wrote any."""
    if context.written:
        _audit(session, context, context.written)


def _audit(session: AsyncSession, context: WriteContext, records: Sequence[str]) -> None:
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
    vacant = context.vacant.get(kind.plural, set())
    if data.id in vacant:
        vacant.discard(data.id)  # it will not be, once this is written
        holder = None
    else:
        holder = await session.scalar(
            select(kind.model).options(*kind.loads).where(kind.model.id == data.id)
        )
    if holder is not None:
        if may_write(kind, context.principal, holder):
            raise ProblemError(
                409, "conflict", f"There is already a {kind.singular} with the id {data.id!r}."
            )
        # Ids are unique, so this one is refused; whether the client may see its holder at
        # all, the answer is the same. The refusal is audited: probing ids shows.
        if context.refused is not None:
            context.refused(f"{kind.plural}/{data.id}")
        raise id_unavailable(data.id)
    row = kind.new(data)
    await _apply(kind, session, data, row, context.principal)
    await _authorize_written(session, kind, row, context.principal)
    record_revision(
        session,
        kind.plural,
        row,
        action=Action.created,
        before=None,
        after=kind.as_input(row),  # as stored: with the locators the server found
        key_id=context.principal.key_id,
        written_by=context.written_by,
    )
    # Flushed with the next statement: an import's records go in together.
    _audit_write(session, context, [f"{kind.plural}/{row.id}"])
    return row


async def _locked(
    session: AsyncSession, kind: RecordKind[Row, In], record_id: str, principal: Principal
) -> Row:
    """The row, if the client may write it, locked until the transaction ends so that
    concurrent writers take turns: a 404 when it is hidden from the client (as when it does
    not exist), a 403 when the client sees it coarsened (`authorize`)."""
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
    authorize(kind, principal, row)
    return row


async def check_version(
    session: AsyncSession,
    kind: RecordKind[Any, Any],
    row: EvidenceRecord,
    if_match: str | None,
    principal: Principal,
) -> None:
    """If-Match must name what the client last saw: 428 without, 412 when stale. It names
    the representation (the ETag as served, stale once the view is rendered again, also for
    another record's change such as its publisher's new name) or only the record's version
    (`"{version}-{tier}"`, stale once the record itself changes)."""
    if if_match is None:
        raise ProblemError(
            428,
            "precondition-required",
            "Send If-Match with the record's ETag, so that a change made meanwhile is not lost.",
        )
    if any_version(if_match):
        return
    view = (
        await session.execute(
            select(*VIEW_COLUMNS).where(of_tier(literal(row.id), kind.plural, principal.tier))
        )
    ).first()
    tag = view_etag(view, principal.tier) if view is not None else None
    current = {version_tag(row.version, principal.tier), tag}
    if not any(t is not None and matches(if_match, t, strong=True) for t in current):
        raise ProblemError(
            412,
            "precondition-failed",
            f"The record has changed (it is at version {row.version}); fetch it again.",
            headers={"ETag": tag} if tag is not None else None,
        )


async def update(
    session: AsyncSession,
    kind: RecordKind[Row, In],
    record_id: str,
    patch: BaseModel,
    if_match: str | None,
    context: WriteContext,
    reason: str | None = None,
    *,
    whole: bool = False,
) -> Row:
    """Change the fields `patch` sets; with `whole` (an import), `patch` is the whole record
    and a field it leaves out takes its default. A change to nothing writes nothing."""
    row = await _locked(session, kind, record_id, context.principal)
    await check_version(session, kind, row, if_match, context.principal)
    if row.status is RecordStatus.retracted:
        raise ProblemError(409, "retracted", f"The {kind.singular} {record_id!r} is retracted.")
    before = kind.as_input(row)
    changes = patch.model_dump(exclude={"id"}) if whole else patch.model_dump(exclude_unset=True)
    merged: dict[str, Any] = kind.patch_base(before) | changes
    if {"source", "quote"} & changes.keys() and "locator" not in changes and "locator" in merged:
        merged["locator"] = None  # a new quote or source: find the quote again
    try:
        data = kind.create_schema.model_validate(merged)
    except ValidationError as error:
        raise _validation_problem(error) from None
    stored = before.model_dump(mode="json")
    if data.model_dump(mode="json") == stored or (
        (await kind.as_stored(session, data)).model_dump(mode="json") == stored
    ):
        return row  # nothing changed: no new version
    await _apply(kind, session, data, row, context.principal)
    await _authorize_written(session, kind, row, context.principal)
    record_revision(
        session,
        kind.plural,
        row,
        action=Action.updated,
        before=before,
        after=kind.as_input(row),
        key_id=context.principal.key_id,
        written_by=context.written_by,
        reason=reason,
    )
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
    # A retraction leaves the record at its level: authorized as it stands, it needs no
    # second look after.
    row = await _locked(session, kind, record_id, context.principal)
    await check_version(session, kind, row, if_match, context.principal)
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
        written_by=context.written_by,
        reason=reason,
    )
    touched = [f"{kind.plural}/{row.id}"]
    touched += await _unsupport_resting(session, kind, row.id, reason, context)
    await session.flush()
    _audit_write(session, context, touched)
    return row


async def _unsupport_resting(
    session: AsyncSession,
    kind: RecordKind[Any, Any],
    record_id: str,
    reason: str,
    context: WriteContext,
) -> list[str]:
    """Records resting on a retracted record lose their support, each with a new version:
    their citations change, and mirrors must hear of it."""
    why = rests_on_retracted(kind.singular, record_id, reason)
    touched = []
    for resting_kind in kinds():
        for rests_on in resting_kind.rests_on:
            if rests_on.kind != kind.plural:
                continue
            for record in await session.scalars(rests_on.resting(record_id)):
                state = resting_kind.as_input(record)
                rests_on.unsupport(record, record_id, why)
                record_revision(
                    session,
                    resting_kind.plural,
                    record,
                    action=Action.unsupported,
                    before=state,
                    after=state,
                    key_id=context.principal.key_id,
                    written_by=context.written_by,
                    reason=why,
                )
                touched.append(f"{resting_kind.plural}/{record.id}")
    return touched
