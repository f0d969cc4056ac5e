from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from app.kit.pagination import Page
from app.kit.params import FilterValue, IsoDate, SearchableQuery, facet_field
from app.kit.partial_dates import PartialDateField
from app.kit.protection import RESTRICTED, Disclosure, ProtectionLevel
from app.kit.schemas import (
    CiteAs,
    Locator,
    NonEmptyText,
    PeriodOut,
    RecordIn,
    RecordRef,
    RecordState,
    Reference,
    ShortText,
    Slug,
)
from app.sources.schemas import Citation


class Metric(StrEnum):
    persons_count = "persons_count"
    deaths = "deaths"
    survivors = "survivors"
    age_years = "age_years"
    wage = "wage"
    working_hours_per_day = "working_hours_per_day"
    trade_share = "trade_share"
    facility_count = "facility_count"
    population = "population"
    duration_years = "duration_years"
    money_amount = "money_amount"
    year = "year"
    other = "other"


class Unit(StrEnum):
    persons = "persons"
    years = "years"
    hours_per_day = "hours_per_day"
    kpw_per_month = "KPW_per_month"
    percent = "percent"
    facilities = "facilities"
    usd = "USD"
    calendar_year = "calendar_year"
    other = "other"


class Approximation(StrEnum):
    exact = "exact"
    approximate = "approximate"
    estimate = "estimate"
    at_least = "at_least"
    at_most = "at_most"
    vague = "vague"


class Stance(StrEnum):
    """What the claimant says of the number. `asserts`: the value lies in the range. `denies`:
    the thing measured does not happen (the range is the "none" the claimant holds to, value
    0). `disputes`: the number in the range, said by someone else, is untrue (value 0 where
    what is disputed is a denial)."""

    asserts = "asserts"
    denies = "denies"
    disputes = "disputes"


def _plain_number(value: Decimal | None) -> Decimal | None:
    """One spelling per number (26000000, not 2.6E+7), so equal values compare equal."""
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value == value.to_integral_value():
        return Decimal(int(value))
    return value.normalize()


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# Exact in Python and the database; a JSON number (not a string) on the wire.
Number = Annotated[
    Decimal,
    AfterValidator(_plain_number),
    PlainSerializer(_json_number, return_type=int | float, when_used="json"),
]


FACT_DESCRIPTION = (
    "What the number measures, as a slug shared by every claim about the same fact "
    "(`age-at-school-entry`, `labour-camps-count`); it names the population where the "
    "subjects do not (`orphans-assigned-to-labour`, `gemstone-polishers-age`). Claims agree, "
    "conflict and corroborate one another only when they name the same fact, metric, unit and "
    "subjects; a claim without a fact corroborates and contradicts nothing but itself."
)


class ClaimCreate(RecordIn):
    statement: ShortText = Field(description="One short sentence in the database's own words.")
    fact: Slug | None = Field(default=None, description=FACT_DESCRIPTION)
    metric: Metric
    value: Number | None = Field(default=None, description="Point value, when one is given.")
    value_min: Number | None = Field(
        default=None,
        description="Lowest value the claim allows; null means open. Defaults to `value` unless "
        "the approximation is at_most.",
    )
    value_max: Number | None = Field(
        default=None,
        description="Highest value the claim allows; null means open. Defaults to `value` unless "
        "the approximation is at_least.",
    )
    unit: Unit
    approximation: Approximation = Approximation.exact
    period_start: PartialDateField | None = None
    period_end: PartialDateField | None = Field(
        default=None, description="End of the period, or the as-of date of a snapshot figure."
    )
    claimant_organization: Slug | None = Field(
        default=None, description="Organization that makes the claim (not merely publishes it)."
    )
    claimant_testimony: Slug | None = Field(
        default=None, description="Testimony whose witness makes the claim."
    )
    stance: Stance = Stance.asserts
    about_facility: Slug | None = None
    about_testimony: Slug | None = None
    about_organization: Slug | None = None
    source: Slug = Field(description="Source where the claim was published.")
    quote: NonEmptyText = Field(description="The words exactly as the source prints them.")
    locator: Locator | None = None
    relayed_from: Slug | None = Field(
        default=None,
        description="The relayed source whose statement the quote reports; one of the "
        "source's `relays` (the KCNA report a BBC sentence quotes).",
    )
    notes: NonEmptyText | None = None
    protection_level: ProtectionLevel = Field(
        default=ProtectionLevel.public,
        description="Set stricter to protect this claim more than the testimonies it rests on; "
        "a claim inherits the strictest level of its about/claimant testimony.",
    )
    claimant_level: ProtectionLevel = Field(
        default=ProtectionLevel.public,
        description="Who makes the claim is shown only to clients cleared for this level; "
        "the others see `claimant_description` in its place, while the number, quote and "
        "source stay as visible as the claim itself (an inside source quoted by a newspaper).",
    )
    claimant_description: ShortText | None = Field(
        default=None,
        description="How the claimant is described where it is withheld; defaults to 'an "
        "unnamed source quoted by <publisher>'.",
    )
    protection_reason: NonEmptyText | None = Field(
        default=None,
        max_length=2000,
        description="Why the claim, or its claimant, is protected; required when "
        "`protection_level` or `claimant_level` is above public.",
        json_schema_extra=RESTRICTED,
    )

    def references(self) -> list[Reference]:
        links = [
            ("claimant_organization", "organizations", self.claimant_organization),
            ("claimant_testimony", "testimonies", self.claimant_testimony),
            ("about_facility", "facilities", self.about_facility),
            ("about_testimony", "testimonies", self.about_testimony),
            ("about_organization", "organizations", self.about_organization),
            ("source", "sources", self.source),
            ("relayed_from", "sources", self.relayed_from),
        ]
        return [(name, kind, target) for name, kind, target in links if target]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.claimant_organization is None) == (self.claimant_testimony is None):
            raise ValueError("give exactly one of claimant_organization and claimant_testimony")
        if self.value is None and self.value_min is None and self.value_max is None:
            raise ValueError("give value, value_min or value_max")
        bounds = [b for b in (self.value_min, self.value, self.value_max) if b is not None]
        if bounds != sorted(bounds):
            raise ValueError("value_min <= value <= value_max must hold")
        # Store the range the number may take; a bound left NULL is open. A point value is
        # its own range unless the claim says "at least" or "at most".
        if self.value is not None:
            if self.value_min is None and self.approximation is not Approximation.at_most:
                self.value_min = self.value
            if self.value_max is None and self.approximation is not Approximation.at_least:
                self.value_max = self.value
        if self.approximation is Approximation.vague and (
            self.value_min is None or self.value_max is None
        ):
            raise ValueError("a vague quantity is stored as a range: give value_min and value_max")
        if (
            self.period_start is not None
            and self.period_end is not None
            and self.period_start.first_day > self.period_end.last_day
        ):
            raise ValueError("period_start is after period_end")
        levels = (self.protection_level, self.claimant_level)
        if any(level is not ProtectionLevel.public for level in levels) and not (
            self.protection_reason
        ):
            raise ValueError(
                "a claim protected above public, or whose claimant is, needs a protection_reason"
            )
        return self


class ClaimantType(StrEnum):
    organization = "organization"
    testimony = "testimony"


class Claimant(BaseModel):
    """Who makes the claim: an organization, or the witness of a testimony. Where the
    claimant is withheld from this client, type and id are null and name describes it."""

    type: ClaimantType | None
    id: str | None
    name: str
    withheld: bool = Field(default=False, description="True when who it is was withheld.")


class ClaimSubject(BaseModel):
    """What the claim is about; each part optional."""

    facility: RecordRef | None
    testimony: RecordRef | None
    organization: RecordRef | None


class Claim(BaseModel):
    """A claim is served at the strictest level of its own and of the testimonies it is about
    or made by: hidden without read:confidential when confidential, coarsened without
    read:restricted when restricted (see `disclosure`)."""

    model_config = ConfigDict(json_schema_extra={"x-sensitivity": "protection_level"})

    id: str
    statement: str
    fact: str | None = Field(description=FACT_DESCRIPTION)
    metric: Metric
    value: int | float | None = Field(
        description="Null for a coarsened age (see value_min/value_max).",
        json_schema_extra=RESTRICTED,
    )
    value_min: int | float | None = Field(
        description="For a coarsened age, the start of its ten-year band.",
        json_schema_extra=RESTRICTED,
    )
    value_max: int | float | None = Field(
        description="For a coarsened age, the end of its ten-year band.",
        json_schema_extra=RESTRICTED,
    )
    unit: Unit
    approximation: Approximation
    period: PeriodOut = Field(
        description="Only years when coarsened.", json_schema_extra=RESTRICTED
    )
    claimant: Claimant
    stance: Stance
    about: ClaimSubject
    citations: list[Citation] = Field(
        min_length=1,
        max_length=1,
        description="The claim's quote, where its source prints it: always one.",
        json_schema_extra=RESTRICTED,
    )
    notes: str | None = Field(description="Null when withheld.", json_schema_extra=RESTRICTED)
    protection_reason: str | None = Field(
        description="Why the claim or its claimant is protected; null when neither is, and "
        "when withheld from this client.",
        json_schema_extra=RESTRICTED,
    )
    independent_sources: int | None = Field(
        description="How many independent original sources stand behind this number: the "
        "distinct origins of this claim and of the active claims of the same fact that agree "
        "with it (see `GET /v1/claims/{claim_id}/related`). A claim's origin is its claimant, "
        "the organization or the witness (testimony) that makes it, however many outlets "
        "repeat it and whether or not they name the relayed report: KCNA counts once. Where "
        "the claimant is withheld from this client, the origin is the quote's source, followed "
        "up its relays. Only claims this client is shown in full take part. A claim without a "
        "fact counts only itself. Null when the claim is coarsened for this client.",
        json_schema_extra=RESTRICTED,
    )
    disclosure: Disclosure
    created_at: datetime
    updated_at: datetime
    state: RecordState
    cite_as: CiteAs


class ClaimPage(Page[Claim]):
    pass


class RelationReason(StrEnum):
    """Why a claim is related as it is; open: clients must tolerate new values."""

    overlapping_range = "overlapping_range"
    disjoint_range = "disjoint_range"
    same_stance = "same_stance"
    opposite_stance = "opposite_stance"
    overlapping_period = "overlapping_period"
    undated_period = "undated_period"


class RelatedClaim(BaseModel):
    claim: Claim
    reasons: list[RelationReason] = Field(
        description="`overlapping_range` or `disjoint_range`, `same_stance` or "
        "`opposite_stance` (the stances differ: asserts, denies and disputes each stand "
        "alone), and `overlapping_period` (both dated) or `undated_period` (either undated, "
        "which compares with any period)."
    )


class RelatedClaimList(BaseModel):
    total: int = Field(description="How many claims stand in this relation, in all.")
    data: list[RelatedClaim] = Field(description="At most `limit` of them, by id.")


class RelatedClaims(BaseModel):
    """Claims of the same fact, metric, unit and subjects (facility, testimony and
    organization each equal, none equal to none) whose periods overlap (an undated claim
    compares with any), split into those that agree with the claim and those that conflict
    with it. A claim without a fact has none. A dispute is related only to the claims whose
    range meets the range it disputes. Only active claims this client is shown in full take
    part."""

    id: str = Field(description="The claim the others are related to.")
    independent_sources: int | None = Field(
        description="The claim's independent sources, as on the claim; null when withheld."
    )
    withheld: bool = Field(
        description="True when the claim is coarsened for this client: its relations would "
        "reveal its exact values, so both lists are empty."
    )
    agrees: RelatedClaimList = Field(
        description="Ranges overlap (a missing bound is open) and the stance is the same."
    )
    conflicts: RelatedClaimList = Field(
        description="Ranges are disjoint, or the stances differ (asserts against denies; a "
        "dispute against what states the number it disputes)."
    )


class ClaimSort(StrEnum):
    """Sort orders; a leading "-" sorts descending. The id breaks ties."""

    id_asc = "id"
    id_desc = "-id"
    value_asc = "value"
    value_desc = "-value"
    period_start_asc = "period_start"
    period_start_desc = "-period_start"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class ClaimFacet(StrEnum):
    """Fields claims can be counted by; `facility` is the facility a claim is about."""

    metric = "metric"
    unit = "unit"
    stance = "stance"
    facility = "facility"


class ClaimQuery(SearchableQuery):
    sort: ClaimSort = Field(default=ClaimSort.id_asc, description="Sort order.")
    fact: list[FilterValue] = Field(
        default_factory=list, description="Only claims of this fact (repeat for several)."
    )
    metric: list[Metric] = Field(default_factory=list)
    unit: list[Unit] = Field(default_factory=list)
    claimant: list[FilterValue] = Field(
        default_factory=list, description="Id of the claimant organization or testimony."
    )
    stance: list[Stance] = Field(default_factory=list)
    facility: list[FilterValue] = Field(default_factory=list, description="About this facility.")
    testimony: list[FilterValue] = Field(
        default_factory=list, description="About this testimony, or made by its witness."
    )
    source: list[FilterValue] = Field(
        default_factory=list,
        description="Published in this source, or reported from it (a KCNA report a BBC "
        "article quotes).",
    )
    value_min: float | None = Field(
        default=None, description="Only claims whose value or range reaches at least this."
    )
    value_max: float | None = Field(
        default=None, description="Only claims whose value or range goes down to at most this."
    )
    period_from: IsoDate | None = Field(
        default=None, description="Only claims whose period overlaps [period_from, period_to]."
    )
    period_to: IsoDate | None = None
    facet: list[ClaimFacet] = facet_field()
