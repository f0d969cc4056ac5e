"""Every query of the claims domain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.scopes import Principal
from app.changes.service import RestsOn
from app.claims.models import (
    Claim,
    period_ascending,
    period_descending,
    period_lower,
    period_upper,
    value_sort_key,
)
from app.claims.schemas import ClaimCreate, ClaimQuery, Metric
from app.db.periods import overlap_conditions, set_period, widened_to_years
from app.facilities.models import Facility
from app.kit.facets import Counted, Facet
from app.kit.pagination import (
    Cursors,
    SortKey,
    Window,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_text,
)
from app.kit.partial_dates import PartialDate
from app.kit.protection import ProtectionLevel, strictest
from app.kit.schemas import QuoteIn, RecordStatus
from app.reading.listing import Records, any_of
from app.sources.models import Source
from app.sources.quotes import SOURCE_RETRACTED, QuotedSource, locator_of, quote_columns, support
from app.sources.repository import quoted_sources, shown_sources
from app.testimonies.models import Testimony

SORT_KEYS = {
    "id": SortKey(Claim.id, parse_text),
    "value": SortKey(value_sort_key, parse_decimal),
    "period_start": SortKey(period_ascending, parse_date, descending=period_descending),
    "updated_at": SortKey(Claim.updated_at, parse_datetime),
}


def visible_claims(principal: Principal) -> ColumnElement[bool] | None:
    """Claims this client may learn exist: a claim is as protected as the strictest of its
    own level and the levels of the testimonies it is about or made by."""
    return _visible_claims(tuple(principal.hidden_levels))


@cache
def _visible_claims(hidden: tuple[ProtectionLevel, ...]) -> ColumnElement[bool] | None:
    if not hidden:
        return None
    hidden_testimonies = select(Testimony.id).where(Testimony.protection_level.in_(hidden))
    return and_(
        Claim.protection_level.not_in(hidden),
        or_(
            Claim.about_testimony_id.is_(None),
            Claim.about_testimony_id.not_in(hidden_testimonies),
        ),
        or_(
            Claim.claimant_testimony_id.is_(None),
            Claim.claimant_testimony_id.not_in(hidden_testimonies),
        ),
    )


RECORDS = Records(
    Claim,
    "claim",
    SORT_KEYS,
    loads=(
        selectinload(Claim.source).selectinload(Source.publisher),
        selectinload(Claim.claimant_organization),
        selectinload(Claim.claimant_testimony),
        selectinload(Claim.about_facility),
        selectinload(Claim.about_testimony),
        selectinload(Claim.about_organization),
    ),
    facets={
        "metric": Facet(Claim.metric, always_known=True),
        "unit": Facet(Claim.unit, always_known=True),
        "stance": Facet(Claim.stance, always_known=True),
        "facility": Facet(Claim.about_facility_id, named_by=Facility),
    },
    groupings={"metric_and_unit": Counted((Claim.metric, Claim.unit))},
    visible=visible_claims,
)


async def list_claims(
    session: AsyncSession, query: ClaimQuery, cursors: Cursors, principal: Principal
) -> Window[Any]:
    return await RECORDS.page(session, claim_conditions, query, query.sort, cursors, principal)


@dataclass(frozen=True)
class _Shown:
    """A claim's value and period bounds as a client sees them: coarsened for protected
    claims unless it sees restricted records in full."""

    value_low: ColumnElement[Any]
    value_high: ColumnElement[Any]
    period_low: ColumnElement[Any]
    period_high: ColumnElement[Any]


@cache
def _shown_bounds(coarsened: bool) -> _Shown:
    # Built once: the expressions are immutable, and building them is a good part of a page.
    if not coarsened:
        return _Shown(
            Claim.value_min.expression, Claim.value_max.expression, period_lower, period_upper
        )
    protected = protected_claims()
    age = and_(protected, Claim.metric == Metric.age_years)
    year_low, year_high = widened_to_years(period_lower, period_upper)
    return _Shown(
        case((age, func.floor(Claim.value_min / 10) * 10), else_=Claim.value_min),
        case((age, func.floor(Claim.value_max / 10) * 10 + 9), else_=Claim.value_max),
        case((protected, year_low), else_=period_lower),
        case((protected, year_high), else_=period_upper),
    )


def claim_conditions(query: ClaimQuery, principal: Principal) -> list[ColumnElement[bool] | None]:
    # Filter coarsened claims on what this client is shown of them, never on more.
    bounds = _shown_bounds(not principal.sees_in_full(ProtectionLevel.restricted))
    # Only ages are coarsened: among claims of other metrics a value filter compares the
    # stored bounds, which an index serves.
    ages_excluded = bool(query.metric) and Metric.age_years not in query.metric
    plain = _shown_bounds(False)
    value_low = plain.value_low if ages_excluded else bounds.value_low
    value_high = plain.value_high if ages_excluded else bounds.value_high
    period_low, period_high = bounds.period_low, bounds.period_high
    conditions = [
        any_of(Claim.fact, query.fact),
        any_of(Claim.metric, query.metric),
        any_of(Claim.unit, query.unit),
        any_of(Claim.stance, query.stance),
        any_of(Claim.about_facility_id, query.facility),
        *overlap_conditions(period_low, period_high, query.period_from, query.period_to),
    ]
    # A client finds claims by what it is shown of them: not by a source or a claimant that
    # is withheld from it.
    if query.source:
        shown = shown_sources(query.source, principal)
        conditions.append(or_(Claim.source_id.in_(shown), Claim.relayed_from_id.in_(shown)))
    claimant_shown = Claim.claimant_level.in_(principal.full_levels)
    if query.claimant:
        conditions.append(
            or_(
                Claim.claimant_organization_id.in_(query.claimant),
                Claim.claimant_testimony_id.in_(query.claimant),
            )
        )
        conditions.append(claimant_shown)
    if query.testimony:
        # A withheld claimant is not found as the claim's subject either.
        subject_shown = or_(
            claimant_shown, Claim.claimant_testimony_id.is_distinct_from(Claim.about_testimony_id)
        )
        conditions.append(
            or_(
                and_(subject_shown, Claim.about_testimony_id.in_(query.testimony)),
                and_(claimant_shown, Claim.claimant_testimony_id.in_(query.testimony)),
            )
        )
    # A claim matches when its range [value_min, value_max] overlaps the asked one; a NULL
    # bound is open ("at least 670" reaches any larger number).
    if query.value_min is not None:
        conditions.append(or_(Claim.value_max.is_(None), value_high >= query.value_min))
    if query.value_max is not None:
        conditions.append(or_(Claim.value_min.is_(None), value_low <= query.value_max))
    return conditions


async def get_claim(
    session: AsyncSession, claim_id: str, principal: Principal, *, fresh: bool = False
) -> Claim:
    return await RECORDS.get(session, claim_id, visible_claims(principal), fresh=fresh)


@cache
def protected_claims() -> ColumnElement[bool]:
    """Claims served above public: their own level, or that of a testimony they rest on."""
    protected_testimonies = select(Testimony.id).where(
        Testimony.protection_level != ProtectionLevel.public
    )
    return or_(
        Claim.protection_level != ProtectionLevel.public,
        Claim.about_testimony_id.in_(protected_testimonies),
        Claim.claimant_testimony_id.in_(protected_testimonies),
    )


def claim_input(row: Claim) -> ClaimCreate:
    return ClaimCreate(
        id=row.id,
        statement=row.statement,
        fact=row.fact,
        metric=row.metric,
        value=row.value,
        value_min=row.value_min,
        value_max=row.value_max,
        unit=row.unit,
        approximation=row.approximation,
        period_start=PartialDate.from_columns(row.period_start, row.period_start_precision),
        period_end=PartialDate.from_columns(row.period_end, row.period_end_precision),
        claimant_organization=row.claimant_organization_id,
        claimant_testimony=row.claimant_testimony_id,
        stance=row.stance,
        about_facility=row.about_facility_id,
        about_testimony=row.about_testimony_id,
        about_organization=row.about_organization_id,
        source=row.source_id,
        quote=row.quote,
        locator=locator_of(row),
        relayed_from=row.relayed_from_id,
        notes=row.notes,
        protection_level=row.protection_level,
        claimant_level=row.claimant_level,
        claimant_description=row.claimant_description,
        protection_reason=row.protection_reason,
    )


def save_claim(
    session: AsyncSession, data: ClaimCreate, row: Claim | None, sources: Mapping[str, QuotedSource]
) -> Claim:
    """The quote is checked against its source in `sources`."""
    row = row or Claim(id=data.id)
    row.statement, row.metric, row.unit = data.statement, data.metric, data.unit
    row.fact = data.fact
    row.value, row.value_min, row.value_max = data.value, data.value_min, data.value_max
    row.approximation, row.stance, row.notes = data.approximation, data.stance, data.notes
    row.protection_level = data.protection_level
    row.claimant_level, row.claimant_description = data.claimant_level, data.claimant_description
    row.protection_reason = data.protection_reason
    set_period(row, data.period_start, data.period_end)
    row.claimant_organization_id = data.claimant_organization
    row.claimant_testimony_id = data.claimant_testimony
    row.about_facility_id = data.about_facility
    row.about_testimony_id = data.about_testimony
    row.about_organization_id = data.about_organization
    quote = QuoteIn(
        source=data.source, quote=data.quote, locator=data.locator, relayed_from=data.relayed_from
    )
    columns = quote_columns(quote, sources)
    for name, value in columns.items():
        setattr(row, name, value)
    unsupported = support(quote, sources)
    if unsupported is not None:
        row.mark(RecordStatus.unsupported, unsupported)
    elif row.status is RecordStatus.unsupported and (row.status_reason or "").startswith(
        SOURCE_RETRACTED
    ):
        row.mark(RecordStatus.active, None)  # its new source stands
    session.add(row)
    return row


async def write_claim(session: AsyncSession, data: ClaimCreate, row: Claim) -> Claim:
    sources = await quoted_sources(session, [s for s in (data.source, data.relayed_from) if s])
    return save_claim(session, data, row, sources)


def claim_level(claim: Claim) -> ProtectionLevel:
    """The level a claim is served at: the strictest of its own and of the testimonies it is
    about or made by. Needs those testimonies loaded."""
    return strictest(
        claim.protection_level,
        claim.about_testimony.protection_level if claim.about_testimony else None,
        claim.claimant_testimony.protection_level if claim.claimant_testimony else None,
    )


def claim_patch_base(data: ClaimCreate) -> dict[str, Any]:
    """A claim's fields, without bounds that only repeat its value: a PATCH of the value
    moves them along."""
    fields = data.model_dump()
    for bound in ("value_min", "value_max"):
        if fields[bound] is not None and fields[bound] == fields["value"]:
            fields[bound] = None
    return fields


def _claims_resting(rests_on: Any) -> Callable[[str], Select[Any]]:
    def resting(record_id: str) -> Select[Any]:
        return (
            select(Claim)
            .where(rests_on(record_id), Claim.status == RecordStatus.active)
            .with_for_update()
        )

    return resting


def _unsupport_claim(claim: Claim, _record_id: str, why: str) -> None:
    claim.mark(RecordStatus.unsupported, why)


# An active claim rests on its source and the source it reports, and on the testimonies it
# quotes or is about.
CLAIMS_REST_ON = (
    RestsOn(
        "sources",
        _claims_resting(lambda i: (Claim.source_id == i) | (Claim.relayed_from_id == i)),
        _unsupport_claim,
    ),
    RestsOn(
        "testimonies",
        _claims_resting(
            lambda i: (Claim.claimant_testimony_id == i) | (Claim.about_testimony_id == i)
        ),
        _unsupport_claim,
    ),
)
