from __future__ import annotations

from pydantic import BaseModel, Field

from app.kit.facets import FacetGroup


class MetricUnitGroup(BaseModel):
    metric: str
    metric_label: str
    unit: str
    unit_label: str
    count: int


class ClaimStats(BaseModel):
    total: int
    by_metric_and_unit: list[MetricUnitGroup] = Field(
        description="Claims per metric and unit, most first."
    )


class FacilityStats(BaseModel):
    total: int
    by_province: list[FacetGroup]
    by_type: list[FacetGroup]


class TestimonyStats(BaseModel):
    total: int | str = Field(
        description="Reads like '<5' below the small-cell threshold for clients without "
        "read:restricted, as every testimony count does."
    )
    by_decade: list[FacetGroup] = Field(description="By the decade the account begins in.")
    by_labour_type: list[FacetGroup] = Field(
        description="A testimony counts once under each labour type it describes."
    )


class Stats(BaseModel):
    """The corpus at a glance, as this client may see it: retracted records are left out,
    records the client may not learn of are not counted."""

    claims: ClaimStats
    facilities: FacilityStats
    testimonies: TestimonyStats
