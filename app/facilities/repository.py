"""Every query of the facilities domain."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    cast,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.scopes import Principal
from app.facilities.models import Facility, FacilityMention
from app.facilities.models import FacilityAlias as FacilityAliasRow
from app.facilities.schemas import FacilityAlias, FacilityCreate, FacilityQuery, LocationIn
from app.kit.facets import Facet
from app.kit.pagination import Cursors, SortKey, Window, parse_datetime, parse_text
from app.kit.schemas import RecordStatus
from app.organizations.models import Organization
from app.reading.listing import Records, any_of, one_of
from app.sources.models import Source, SourceRelay
from app.sources.origins import count_origins, counted_quote, from_shown_sources, relay_origins
from app.sources.quotes import QuotedSource, quote_columns, quote_input, support
from app.sources.repository import quoted_sources

# A facility's independent sources change with the quotes about it that other kinds write: the
# figure lives beside its stored views, in `live`.
LIVE_FIGURE = "independent_sources"

SORT_KEYS = {
    "name": SortKey(Facility.name, parse_text),
    "id": SortKey(Facility.id, parse_text),
    "updated_at": SortKey(Facility.updated_at, parse_datetime),
}


RECORDS = Records(
    Facility,
    "facility",
    SORT_KEYS,
    loads=(
        selectinload(Facility.operator),
        selectinload(Facility.aliases),
        selectinload(Facility.mentions)
        .selectinload(FacilityMention.source)
        .selectinload(Source.publisher),
    ),
    facets={
        "province": Facet(Facility.province),
        "facility_type": Facet(Facility.facility_type, always_known=True),
        "operator": Facet(Facility.operator_id, named_by=Organization),
        "location_precision": Facet(Facility.location_precision, always_known=True),
    },
)


async def list_facilities(
    session: AsyncSession, query: FacilityQuery, cursors: Cursors, principal: Principal
) -> Window[Any]:
    return await RECORDS.page(session, facility_conditions, query, query.sort, cursors, principal)


def facility_conditions(
    query: FacilityQuery, _principal: Principal
) -> list[ColumnElement[bool] | None]:
    conditions = [
        any_of(Facility.facility_type, query.facility_type),
        any_of(Facility.province, query.province),
        any_of(Facility.operator_id, query.operator),
    ]
    if query.has_location is not None:
        conditions.append(
            Facility.latitude.is_not(None) if query.has_location else Facility.latitude.is_(None)
        )
    return conditions


async def get_facility(
    session: AsyncSession, facility_id: str, principal: Principal, *, fresh: bool = False
) -> Facility:
    return await RECORDS.get(session, facility_id, fresh=fresh)


def facility_input(row: Facility) -> FacilityCreate:
    """Needs aliases and mentions loaded."""
    return FacilityCreate(
        id=row.id,
        name=row.name,
        aliases=[
            FacilityAlias(name=a.name, language=a.language, script=a.script) for a in row.aliases
        ],
        facility_type=row.facility_type,
        province=row.province,
        county=row.county,
        location=LocationIn(
            latitude=float(row.latitude) if row.latitude is not None else None,
            longitude=float(row.longitude) if row.longitude is not None else None,
            precision=row.location_precision,
        ),
        operator=row.operator_id,
        products=row.products,
        description=row.description,
        mentions=[quote_input(m) for m in row.mentions],
    )


def save_facility(
    session: AsyncSession,
    data: FacilityCreate,
    row: Facility | None,
    sources: Mapping[str, QuotedSource],
) -> Facility:
    """Quotes are checked against their sources in `sources`."""
    row = row or Facility(id=data.id, aliases=[], mentions=[])
    row.name, row.facility_type = data.name, data.facility_type
    row.province, row.county = data.province, data.county
    row.latitude = _coordinate(data.location.latitude)
    row.longitude = _coordinate(data.location.longitude)
    row.location_precision = data.location.precision
    row.operator_id, row.products = data.operator, data.products
    row.description = data.description
    row.aliases = [
        FacilityAliasRow(position=i, name=a.name, language=a.language, script=a.script)
        for i, a in enumerate(data.aliases)
    ]
    row.mentions = [
        FacilityMention(
            position=i,
            status=RecordStatus.unsupported if support(m, sources) else RecordStatus.active,
            status_reason=support(m, sources),
            **quote_columns(m, sources, f"mentions.{i}."),
        )
        for i, m in enumerate(data.mentions)
    ]
    session.add(row)
    return row


def _coordinate(value: float | None) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None


async def write_facility(session: AsyncSession, data: FacilityCreate, row: Facility) -> Facility:
    cited = [s for m in data.mentions for s in (m.source, m.relayed_from) if s]
    sources = await quoted_sources(session, cited)
    return save_facility(session, data, row, sources)


# What a facility's independent sources count beside its mentions: the quotes about it held by
# the kinds above facilities (claims), each declared by its kind (`counts_toward_facilities`).
FacilityQuotes = Callable[[Collection[str], Principal], Select[Any]]
_COUNTED_QUOTES: list[FacilityQuotes] = []


def counts_toward_facilities(quotes: FacilityQuotes) -> FacilityQuotes:
    """Declares quotes about facilities that another kind holds: `quotes(facility_ids,
    principal)` selects, as `counted_quote` gives them (owned by the facility), those of
    these facilities that this client may count."""
    _COUNTED_QUOTES.append(quotes)
    return quotes


def _counted_quotes(facility_ids: Collection[str], principal: Principal) -> list[Select[Any]]:
    """The quotes these facilities' independent sources count for this client: its supported
    mentions and the quotes about it the other kinds declare."""
    mentions = select(*counted_quote(FacilityMention, FacilityMention.facility_id)).where(
        one_of(FacilityMention.facility_id, facility_ids),
        FacilityMention.status == RecordStatus.active,
        from_shown_sources(FacilityMention.source_id, principal),
    )
    return [mentions, *(counted(facility_ids, principal) for counted in _COUNTED_QUOTES)]


async def facility_sources(
    session: AsyncSession, facility_ids: Collection[str], principal: Principal
) -> dict[str, int]:
    """Independent sources of each facility: the distinct origins of its supported mentions
    and of the quotes about it the other kinds declare. One query for any number."""
    if not facility_ids:
        return {}
    quotes = union_all(*_counted_quotes(facility_ids, principal)).cte("facility_quotes")
    counts = dict((await session.execute(count_origins(quotes))).all())
    return {facility_id: counts.get(facility_id, 0) for facility_id in facility_ids}


async def quotes_of_origin(
    session: AsyncSession,
    facility_id: str,
    source_id: str,
    relayed_from_id: str | None,
    principals: Mapping[str, Principal],
) -> dict[str, int]:
    """How many of the quotes the facility's independent sources count for each client (by
    tier) come from the origin of a quote of `source_id` reporting `relayed_from_id`: one
    when that quote is counted and the first of its origin (a count above one may fall
    short: the quotes in the origin's own words are counted up to two). Read through the
    sources whose relays may lead to that origin, never the facility's every quote."""
    if relayed_from_id is None:
        origin = source_id
    else:
        walked = relay_origins(select(literal(relayed_from_id, Text).label("root")))
        origin = (await session.execute(select(walked.c.origin))).scalar_one()
    # The origin and every source relaying it, directly or through others: the only
    # sources a quote of that origin may report.
    relaying = select(literal(origin, Text).label("source_id")).cte("relaying", recursive=True)
    relay = SourceRelay.__table__
    relaying = relaying.union(
        select(cast(relay.c.relaying_source_id, Text)).join(
            relaying, relay.c.relayed_source_id == relaying.c.source_id
        )
    )
    reporting = list(await session.scalars(select(relaying.c.source_id)))
    candidates = []
    for tier, principal in principals.items():
        for quotes in _counted_quotes([facility_id], principal):
            # Apart, so that each is found through its column's index.
            own = quotes.subquery()
            in_own_words = select(literal(tier, Text).label("tier"), own).where(
                own.c.relayed_from_id.is_(None), own.c.source_id == origin
            )
            # Of the origin by themselves: two tell that the new one is not the first.
            candidates.append(select(in_own_words.limit(2).subquery()))
            reported = quotes.subquery()
            candidates.append(
                select(literal(tier, Text).label("tier"), reported).where(
                    one_of(reported.c.relayed_from_id, reporting)
                )
            )
    quoted = union_all(*candidates).cte("facility_quotes")
    roots = select(quoted.c.relayed_from_id.label("root")).where(
        quoted.c.relayed_from_id.is_not(None)
    )
    origins = relay_origins(roots.distinct())
    of_origin = (
        select(quoted.c.tier, func.count())
        .select_from(quoted.outerjoin(origins, origins.c.root == quoted.c.relayed_from_id))
        .where(func.coalesce(origins.c.origin, quoted.c.source_id) == origin)
        .group_by(quoted.c.tier)
    )
    counts = {tier: count for tier, count in await session.execute(of_origin)}
    return {tier: counts.get(tier, 0) for tier in principals}
