"""Every query of the testimonies domain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.scopes import Principal
from app.db.periods import overlap_conditions, set_period, widened_to_years
from app.facilities.models import Facility
from app.kit.facets import Facet
from app.kit.pagination import Cursors, SortKey, Window, parse_date, parse_datetime, parse_text
from app.kit.partial_dates import PartialDate
from app.kit.protection import ProtectionLevel, small_cell, strictest
from app.kit.schemas import RecordStatus
from app.reading.listing import Records, any_of
from app.sources.models import Source
from app.sources.quotes import QuotedSource, quote_columns, quote_input, support
from app.sources.repository import quoted_sources, shown_sources
from app.testimonies.models import (
    Testimony,
    TestimonyExcerpt,
    period_ascending,
    period_descending,
    period_lower,
    period_upper,
    testimony_facilities,
)
from app.testimonies.schemas import ExcerptIn, LabourType, TestimonyCreate, TestimonyQuery

SORT_KEYS = {
    "period_start": SortKey(period_ascending, parse_date, descending=period_descending),
    "id": SortKey(Testimony.id, parse_text),
    "updated_at": SortKey(Testimony.updated_at, parse_datetime),
}


def visible_testimonies(principal: Principal) -> ColumnElement[bool] | None:
    """Testimonies this client may learn exist."""
    if not principal.hidden_levels:
        return None
    return Testimony.protection_level.not_in(principal.hidden_levels)


RECORDS = Records(
    Testimony,
    "testimony",
    SORT_KEYS,
    loads=(
        selectinload(Testimony.facilities),
        selectinload(Testimony.excerpts)
        .selectinload(TestimonyExcerpt.source)
        .selectinload(Source.publisher),
    ),
    facets={
        "province": Facet(Testimony.province),
        "witness_role": Facet(Testimony.witness_role, always_known=True),
        "labour_type": Facet(Testimony.labour_types, each_element=True),
        # Years are shown of every testimony, so decades reveal nothing coarsening hides.
        "decade": Facet(
            func.cast(func.floor(func.extract("year", Testimony.period_start) / 10) * 10, Integer),
            label=lambda decade: f"{decade}s",
        ),
    },
    visible=visible_testimonies,
)


async def list_testimonies(
    session: AsyncSession, query: TestimonyQuery, cursors: Cursors, principal: Principal
) -> Window[Any]:
    return await RECORDS.page(session, testimony_conditions, query, query.sort, cursors, principal)


def testimony_conditions(
    query: TestimonyQuery, principal: Principal
) -> list[ColumnElement[bool] | None]:
    period_low, period_high = period_lower, period_upper
    if not principal.sees_in_full(ProtectionLevel.restricted):
        # Coarsened testimonies show only years; filter them on years too.
        protected = Testimony.protection_level != ProtectionLevel.public
        year_low, year_high = widened_to_years(period_lower, period_upper)
        period_low = case((protected, year_low), else_=period_lower)
        period_high = case((protected, year_high), else_=period_upper)
    conditions = [
        any_of(Testimony.province, query.province),
        any_of(Testimony.witness_role, query.witness_role),
        *overlap_conditions(period_low, period_high, query.period_from, query.period_to),
    ]
    if query.labour_type:
        conditions.append(Testimony.labour_types.overlap([t.value for t in query.labour_type]))
    if query.facility:
        conditions.append(
            Testimony.id.in_(
                select(testimony_facilities.c.testimony_id).where(
                    testimony_facilities.c.facility_id.in_(query.facility)
                )
            )
        )
    if query.source:
        shown = shown_sources(query.source, principal)
        conditions.append(
            Testimony.id.in_(
                select(TestimonyExcerpt.testimony_id).where(
                    or_(
                        TestimonyExcerpt.source_id.in_(shown),
                        TestimonyExcerpt.relayed_from_id.in_(shown),
                    ),
                    TestimonyExcerpt.protection_level.not_in(principal.hidden_levels),
                )
            )
        )
    return conditions


def suppress_small_cells(window: Window[Any], threshold: int, *, exact: bool) -> None:
    """Counts of testimonies as the client may see them (see `small_cell`): the total and
    every facet group."""
    window.total = small_cell(window.total, threshold, exact)
    for groups in (window.facets or {}).values():
        for group in groups:
            group.count = small_cell(group.count, threshold, exact) or 0


async def get_testimony(
    session: AsyncSession, testimony_id: str, principal: Principal, *, fresh: bool = False
) -> Testimony:
    return await RECORDS.get(session, testimony_id, visible_testimonies(principal), fresh=fresh)


def testimony_level(row: Testimony) -> ProtectionLevel:
    """The level a client must read to have the whole testimony: its own, or that of a
    stricter excerpt (which is withheld from clients below it). Needs excerpts loaded."""
    return strictest(row.protection_level, *(e.protection_level for e in row.excerpts))


def testimony_input(row: Testimony) -> TestimonyCreate:
    """Needs facilities and excerpts loaded."""
    return TestimonyCreate(
        id=row.id,
        witness_pseudonym=row.witness_pseudonym,
        pseudonym_is_real_name=row.pseudonym_is_real_name,
        witness_role=row.witness_role,
        witness_gender=row.witness_gender,
        witness_age_at_start=row.witness_age_at_start,
        witness_birth_year=row.witness_birth_year,
        period_start=PartialDate.from_columns(row.period_start, row.period_start_precision),
        period_end=PartialDate.from_columns(row.period_end, row.period_end_precision),
        province=row.province,
        county=row.county,
        facilities=[f.id for f in row.facilities],
        labour_types=[LabourType(t) for t in row.labour_types],
        summary=row.summary,
        protection_level=row.protection_level,
        protection_reason=row.protection_reason,
        excerpts=[
            ExcerptIn(
                **quote_input(e).model_dump(),
                protection_level=e.protection_level,
                speaker=e.speaker,
            )
            for e in row.excerpts
        ],
    )


def save_testimony(
    session: AsyncSession,
    data: TestimonyCreate,
    row: Testimony | None,
    facilities: list[Facility],
    sources: Mapping[str, QuotedSource],
) -> Testimony:
    """`facilities` are the rows of `data.facilities`; quotes are checked against `sources`."""
    row = row or Testimony(id=data.id, facilities=[], excerpts=[])
    row.witness_pseudonym = data.witness_pseudonym
    row.pseudonym_is_real_name = data.pseudonym_is_real_name
    row.witness_role, row.witness_gender = data.witness_role, data.witness_gender
    row.witness_age_at_start = data.witness_age_at_start
    row.witness_birth_year = data.witness_birth_year
    set_period(row, data.period_start, data.period_end)
    row.province, row.county = data.province, data.county
    row.labour_types = [t.value for t in data.labour_types]
    row.summary, row.protection_level = data.summary, data.protection_level
    row.protection_reason = data.protection_reason
    row.facilities = facilities
    row.excerpts = [
        TestimonyExcerpt(
            position=i,
            protection_level=e.protection_level,
            speaker=e.speaker,
            status=RecordStatus.unsupported if support(e, sources) else RecordStatus.active,
            status_reason=support(e, sources),
            **quote_columns(e, sources, f"excerpts.{i}."),
        )
        for i, e in enumerate(data.excerpts)
    ]
    session.add(row)
    return row


async def write_testimony(
    session: AsyncSession, data: TestimonyCreate, row: Testimony
) -> Testimony:
    facilities = list(
        await session.scalars(select(Facility).where(Facility.id.in_(data.facilities)))
    )
    cited = [s for e in data.excerpts for s in (e.source, e.relayed_from) if s]
    sources = await quoted_sources(session, cited)
    return save_testimony(session, data, row, facilities, sources)
