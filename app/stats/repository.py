"""Counts over the whole corpus, through the same filters and facets as the lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Principal
from app.claims import repository as claims
from app.claims.models import Claim
from app.claims.schemas import ClaimQuery
from app.facilities import repository as facilities
from app.facilities.schemas import FacilityQuery
from app.kit.facets import FacetGroup, words
from app.kit.listing import Conditions, Records
from app.kit.params import ListQuery
from app.kit.protection import ProtectionLevel, small_cell
from app.stats.schemas import ClaimStats, FacilityStats, MetricUnitGroup, Stats, TestimonyStats
from app.testimonies import repository as testimonies
from app.testimonies.schemas import TestimonyQuery


async def corpus_stats(
    session: AsyncSession, principal: Principal, small_cell_threshold: int
) -> Stats:
    """Counts as this client may see them; testimony counts below the threshold are
    suppressed for clients without read:restricted."""
    by_metric_and_unit = await _claims_by_metric_and_unit(session, principal)
    facility_query, testimony_query = FacilityQuery(), TestimonyQuery()
    exact = principal.sees_in_full(ProtectionLevel.restricted)

    async def facility_groups(name: str) -> list[FacetGroup]:
        return await facilities.RECORDS.facet(
            session, facilities.facility_conditions, facility_query, principal, name
        )

    async def testimony_groups(name: str) -> list[FacetGroup]:
        groups = await testimonies.RECORDS.facet(
            session, testimonies.testimony_conditions, testimony_query, principal, name
        )
        for group in groups:
            group.count = small_cell(group.count, small_cell_threshold, exact) or 0
        return groups

    testimony_total = await _total(
        session, testimonies.RECORDS, testimonies.testimony_conditions, testimony_query, principal
    )
    return Stats(
        claims=ClaimStats(
            total=sum(group.count for group in by_metric_and_unit),
            by_metric_and_unit=by_metric_and_unit,
        ),
        facilities=FacilityStats(
            total=await _total(
                session,
                facilities.RECORDS,
                facilities.facility_conditions,
                facility_query,
                principal,
            ),
            by_province=await facility_groups("province"),
            by_type=await facility_groups("facility_type"),
        ),
        testimonies=TestimonyStats(
            total=small_cell(testimony_total, small_cell_threshold, exact) or 0,
            by_decade=await testimony_groups("decade"),
            by_labour_type=await testimony_groups("labour_type"),
        ),
    )


async def _claims_by_metric_and_unit(
    session: AsyncSession, principal: Principal
) -> list[MetricUnitGroup]:
    query = ClaimQuery()
    where = claims.RECORDS.where(claims.claim_conditions(query, principal), query, principal)
    count = func.count()
    rows = await session.execute(
        select(Claim.metric, Claim.unit, count)
        .where(*where)
        .group_by(Claim.metric, Claim.unit)
        .order_by(count.desc(), Claim.metric, Claim.unit)
    )
    return [
        MetricUnitGroup(
            metric=metric, metric_label=words(metric), unit=unit, unit_label=words(unit), count=n
        )
        for metric, unit, n in rows
    ]


async def _total(
    session: AsyncSession,
    records: Records[Any],
    conditions: Conditions[Any],
    query: ListQuery,
    principal: Principal,
) -> int:
    where = records.where(conditions(query, principal), query, principal)
    return await session.scalar(select(func.count()).select_from(records.model).where(*where)) or 0
