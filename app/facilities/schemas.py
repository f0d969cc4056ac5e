from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, Field, model_validator

from app.kit.pagination import Page
from app.kit.params import FilterValue, SearchableQuery, facet_field
from app.kit.protection import Disclosure
from app.kit.provinces import Province, ProvinceField
from app.kit.schemas import (
    CiteAs,
    NonEmptyText,
    QuoteIn,
    RecordIn,
    RecordRef,
    RecordState,
    Reference,
    ShortText,
    Slug,
    StrictModel,
    quote_references,
)
from app.sources.schemas import Citation


class FacilityType(StrEnum):
    coal_mine = "coal_mine"
    mine = "mine"
    political_prison_camp = "political_prison_camp"
    reeducation_camp = "reeducation_camp"
    labour_camp = "labour_camp"
    factory = "factory"
    farm = "farm"
    forestry_site = "forestry_site"
    construction_site = "construction_site"
    school = "school"
    other = "other"


class AliasScript(StrEnum):
    hangul = "hangul"
    mccune_reischauer = "mccune_reischauer"
    revised_romanization = "revised_romanization"
    english_translation = "english_translation"
    other = "other"


class LocationPrecision(StrEnum):
    exact = "exact"
    approximate = "approximate"
    settlement = "settlement"
    province = "province"
    unknown = "unknown"


class FacilityAlias(StrictModel):
    name: ShortText
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$", examples=["ko", "en"])
    script: AliasScript


class LocationIn(StrictModel):
    latitude: float | None = Field(default=None, ge=37.5, le=43.1)
    longitude: float | None = Field(default=None, ge=124.0, le=131.0)
    precision: LocationPrecision = LocationPrecision.unknown

    @model_validator(mode="after")
    def _coordinates_match_precision(self) -> Self:
        has_latitude, has_longitude = self.latitude is not None, self.longitude is not None
        if has_latitude != has_longitude:
            raise ValueError("latitude and longitude go together")
        if has_latitude == (self.precision is LocationPrecision.unknown):
            raise ValueError("coordinates need a known precision, and precision 'unknown' none")
        return self


class FacilityCreate(RecordIn):
    name: ShortText = Field(description="Name in English, or a description for unnamed sites.")
    aliases: list[FacilityAlias] = Field(default_factory=list)
    facility_type: FacilityType
    province: ProvinceField | None = None
    county: ShortText | None = None
    location: LocationIn = Field(default_factory=LocationIn)
    operator: Slug | None = Field(default=None, description="Organization that runs it.")
    products: list[ShortText] = Field(default_factory=list)
    description: NonEmptyText | None = None
    mentions: list[QuoteIn] = Field(
        default_factory=list, description="Quotes that name or locate the facility."
    )

    def references(self) -> list[Reference]:
        links = [("operator", "organizations", self.operator)]
        links += quote_references("mentions", self.mentions)
        return [(name, kind, target) for name, kind, target in links if target]

    @model_validator(mode="after")
    def _aliases_distinct(self) -> Self:
        names = [alias.name for alias in self.aliases]
        if len(names) != len(set(names)):
            raise ValueError("alias names must be distinct")
        return self


class Location(BaseModel):
    latitude: float | None
    longitude: float | None
    precision: LocationPrecision


class Facility(BaseModel):
    id: str
    name: str
    aliases: list[FacilityAlias]
    facility_type: FacilityType
    province: Province | None
    county: str | None
    location: Location
    operator: RecordRef | None
    products: list[str]
    description: str | None
    citations: list[Citation]
    independent_sources: int = Field(
        description="How many independent original sources attest the facility: the distinct "
        "origins of its supported mentions and of the active claims about it that this client "
        "may see. A quote that reports another source originates where the relays lead (three "
        "outlets repeating one report count once); a quote in its publisher's own words "
        "originates in its own source."
    )
    disclosure: Disclosure = Field(
        description="What this client was not shown: quotes of passages that protected "
        "records also quote, or of protected sources."
    )
    created_at: datetime
    updated_at: datetime
    state: RecordState
    cite_as: CiteAs


class FacilityPage(Page[Facility]):
    pass


class FacilitySort(StrEnum):
    """Sort orders; a leading "-" sorts descending. The id breaks ties."""

    name_asc = "name"
    name_desc = "-name"
    id_asc = "id"
    id_desc = "-id"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class FacilityFacet(StrEnum):
    """Fields facilities can be counted by."""

    province = "province"
    facility_type = "facility_type"
    operator = "operator"
    location_precision = "location_precision"


class FacilityQuery(SearchableQuery):
    sort: FacilitySort = Field(default=FacilitySort.name_asc, description="Sort order.")
    facility_type: list[FacilityType] = Field(default_factory=list)
    province: list[ProvinceField] = Field(
        default_factory=list, description="Province; common romanisations are accepted."
    )
    operator: list[FilterValue] = Field(
        default_factory=list, description="Operator organization id."
    )
    has_location: bool | None = Field(
        default=None, description="Only with (or without) coordinates."
    )
    facet: list[FacilityFacet] = facet_field()
