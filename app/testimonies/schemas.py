from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.kit.pagination import Page
from app.kit.params import FilterValue, IsoDate, SearchableQuery, facet_field
from app.kit.partial_dates import PartialDateField
from app.kit.protection import RESTRICTED, Disclosure, ProtectionLevel
from app.kit.provinces import Province, ProvinceField
from app.kit.schemas import (
    CiteAs,
    NonEmptyText,
    PeriodOut,
    QuoteIn,
    RecordIn,
    RecordRef,
    RecordState,
    Reference,
    ShortText,
    Slug,
    quote_references,
)
from app.sources.schemas import Citation, Speaker


class WitnessRole(StrEnum):
    survivor = "survivor"
    family_member = "family_member"
    eyewitness = "eyewitness"
    former_official = "former_official"
    inside_source = "inside_source"
    other = "other"


class Gender(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class LabourType(StrEnum):
    mining = "mining"
    agriculture = "agriculture"
    construction = "construction"
    manufacturing = "manufacturing"
    forestry = "forestry"
    infrastructure = "infrastructure"
    military_labour = "military_labour"
    school_mobilisation = "school_mobilisation"
    prison_labour = "prison_labour"
    other = "other"


class ExcerptIn(QuoteIn):
    protection_level: ProtectionLevel = Field(
        default=ProtectionLevel.public,
        description="Set stricter than the testimony's level to protect this quote more; a "
        "looser value has no effect (an excerpt inherits its testimony's level).",
    )
    speaker: Speaker = Field(
        default=Speaker.witness,
        description="`witness` when the quote is the witness's own words (what they say or "
        "write, quoted); `narrator` when it is the reporter's narration about the witness "
        '("Ms Kim was just 16 when she started work in the mine").',
    )


class TestimonyCreate(RecordIn):
    witness_pseudonym: ShortText = Field(
        description="Name the witness is known by; a pseudonym or a description unless "
        "pseudonym_is_real_name is true."
    )
    pseudonym_is_real_name: bool = False
    witness_role: WitnessRole
    witness_gender: Gender = Gender.unknown
    witness_age_at_start: int | None = Field(
        default=None, ge=0, le=120, description="Age when the events began, when known."
    )
    witness_birth_year: int | None = Field(default=None, ge=1880, le=2030)
    period_start: PartialDateField | None = None
    period_end: PartialDateField | None = None
    province: ProvinceField | None = None
    county: ShortText | None = None
    facilities: list[Slug] = Field(default_factory=list)
    labour_types: list[LabourType] = Field(default_factory=list)
    summary: NonEmptyText = Field(description="The account in the database's own, neutral words.")
    protection_level: ProtectionLevel = Field(
        default=ProtectionLevel.restricted,
        description="public for an account already published as it is recorded here; "
        "restricted where its details would single the witness out; confidential where even "
        "its existence is sensitive (see the README's access section).",
    )
    protection_reason: NonEmptyText | None = Field(
        default=None,
        max_length=2000,
        description="Why the testimony is protected; required above public.",
        json_schema_extra=RESTRICTED,
    )
    excerpts: list[ExcerptIn] = Field(default_factory=list, description="Verbatim quotes.")

    def references(self) -> list[Reference]:
        links = [(f"facilities.{i}", "facilities", f) for i, f in enumerate(self.facilities)]
        return links + quote_references("excerpts", self.excerpts)

    @field_validator("facilities")
    @classmethod
    def _facilities_as_set(cls, facilities: list[str]) -> list[str]:
        return sorted(set(facilities))

    @model_validator(mode="after")
    def _period_ordered(self) -> Self:
        if (
            self.period_start is not None
            and self.period_end is not None
            and self.period_start.first_day > self.period_end.last_day
        ):
            raise ValueError("period_start is after period_end")
        return self

    @model_validator(mode="after")
    def _reason_given(self) -> Self:
        if self.protection_level is not ProtectionLevel.public and not self.protection_reason:
            raise ValueError("a protected testimony needs a protection_reason")
        return self


class Witness(BaseModel):
    pseudonym: str
    pseudonym_is_real_name: bool
    role: WitnessRole
    gender: Gender
    age_at_start: int | None = Field(
        description="Age when the events began; null when withheld (see age_band).",
        json_schema_extra=RESTRICTED,
    )
    age_band: str | None = Field(description="Ten-year band of age_at_start, e.g. `10-19`.")
    birth_year: int | None = Field(
        description="Null when withheld (see birth_decade).", json_schema_extra=RESTRICTED
    )
    birth_decade: str | None = Field(description="Decade of birth, e.g. `1930s`.")


class Testimony(BaseModel):
    """A witness's account. Restricted testimonies reach clients without read:restricted
    coarsened (see `disclosure`); confidential ones reach only read:confidential."""

    model_config = ConfigDict(json_schema_extra={"x-sensitivity": "protection_level"})

    id: str
    witness: Witness
    period: PeriodOut = Field(
        description="Only years when coarsened.", json_schema_extra=RESTRICTED
    )
    province: Province | None
    county: str | None = Field(description="Null when withheld.", json_schema_extra=RESTRICTED)
    facilities: list[RecordRef]
    labour_types: list[LabourType]
    summary: str
    protection_level: ProtectionLevel
    protection_reason: str | None = Field(
        description="Why the testimony is protected; null when public, and when withheld.",
        json_schema_extra=RESTRICTED,
    )
    citations: list[Citation] = Field(
        description="The account's excerpts, verbatim, each with its `speaker` (the witness, "
        "or the reporter narrating); quotes are withheld when coarsened.",
        json_schema_extra=RESTRICTED,
    )
    disclosure: Disclosure
    created_at: datetime
    updated_at: datetime
    state: RecordState
    cite_as: CiteAs


class TestimonyPage(Page[Testimony]):
    pass


class TestimonySort(StrEnum):
    """Sort orders; a leading "-" sorts descending. The id breaks ties."""

    period_start_asc = "period_start"
    period_start_desc = "-period_start"
    id_asc = "id"
    id_desc = "-id"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class TestimonyFacet(StrEnum):
    """Fields testimonies can be counted by; `decade` is that of the account's first year."""

    province = "province"
    witness_role = "witness_role"
    labour_type = "labour_type"
    decade = "decade"


class TestimonyQuery(SearchableQuery):
    sort: TestimonySort = Field(default=TestimonySort.id_asc, description="Sort order.")
    facility: list[FilterValue] = Field(default_factory=list, description="Facility id.")
    province: list[ProvinceField] = Field(
        default_factory=list, description="Province; common romanisations are accepted."
    )
    witness_role: list[WitnessRole] = Field(default_factory=list)
    labour_type: list[LabourType] = Field(default_factory=list)
    period_from: IsoDate | None = Field(
        default=None, description="Only accounts whose period overlaps [period_from, period_to]."
    )
    period_to: IsoDate | None = None
    source: list[FilterValue] = Field(
        default_factory=list, description="Quoted in this source, or reported from it."
    )
    facet: list[TestimonyFacet] = facet_field()
