"""Counts over the whole corpus, as the lists' unfiltered facets and totals give them: read
from the counts kept per tier (`app.views.counts`) in one statement, never counted per
request."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Principal
from app.claims import repository as claims
from app.facilities import repository as facilities
from app.kit.facets import FacetGroup, words
from app.kit.protection import ProtectionLevel, small_cell
from app.kit.schemas import PLURAL
from app.reading.listing import Records
from app.stats.schemas import ClaimStats, FacilityStats, MetricUnitGroup, Stats, TestimonyStats
from app.testimonies import repository as testimonies
from app.views import counts

# What the statistics read: (records, facet or grouping).
_COUNTED: tuple[tuple[Records[Any], str], ...] = (
    (claims.RECORDS, "metric_and_unit"),
    (facilities.RECORDS, counts.TOTAL),
    (facilities.RECORDS, "province"),
    (facilities.RECORDS, "facility_type"),
    (testimonies.RECORDS, counts.TOTAL),
    (testimonies.RECORDS, "decade"),
    (testimonies.RECORDS, "labour_type"),
)


async def corpus_stats(
    session: AsyncSession, principal: Principal, small_cell_threshold: int
) -> Stats:
    """Counts as this client may see them; testimony counts below the threshold are
    suppressed for clients without read:restricted."""
    statement = counts.groups_statement(
        principal.tier, tuple((PLURAL[records.kind], name) for records, name in _COUNTED)
    )
    kept: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in await session.execute(statement):
        kept[row.kind, row.facet].append(row)

    def rows(records: Records[Any], name: str) -> list[tuple[Any, ...]]:
        return records.typed_groups(name, kept[PLURAL[records.kind], name])

    def total(records: Records[Any]) -> int:
        return sum(row.records for row in kept[PLURAL[records.kind], counts.TOTAL])

    def groups(records: Records[Any], name: str) -> list[FacetGroup]:
        return records.facets[name].groups(rows(records, name))

    exact = principal.sees_in_full(ProtectionLevel.restricted)

    def suppressed(found: list[FacetGroup]) -> list[FacetGroup]:
        for group in found:
            group.count = small_cell(group.count, small_cell_threshold, exact) or 0
        return found

    by_metric_and_unit = [
        MetricUnitGroup(
            metric=metric, metric_label=words(metric), unit=unit, unit_label=words(unit), count=n
        )
        for metric, unit, _label, n in rows(claims.RECORDS, "metric_and_unit")
    ]
    return Stats(
        claims=ClaimStats(
            total=sum(group.count for group in by_metric_and_unit),
            by_metric_and_unit=by_metric_and_unit,
        ),
        facilities=FacilityStats(
            total=total(facilities.RECORDS),
            by_province=groups(facilities.RECORDS, "province"),
            by_type=groups(facilities.RECORDS, "facility_type"),
        ),
        testimonies=TestimonyStats(
            total=small_cell(total(testimonies.RECORDS), small_cell_threshold, exact) or 0,
            by_decade=suppressed(groups(testimonies.RECORDS, "decade")),
            by_labour_type=suppressed(groups(testimonies.RECORDS, "labour_type")),
        ),
    )
