from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.claims.schemas import Approximation, Metric, Stance, Unit
from app.db.base import (
    Base,
    EvidenceRecord,
    Period,
    period_bounds,
    text_enum,
    undated_last,
)
from app.facilities.models import Facility
from app.kit.protection import ProtectionLevel
from app.organizations.models import Organization
from app.sources.quotes import quotes_sources
from app.sources.quoting import Quoted
from app.testimonies.models import Testimony


@quotes_sources
class Claim(Quoted, Period, EvidenceRecord, Base):
    """A number someone states about the labour, with its quote in the source that published it."""

    __tablename__ = "claims"

    statement: Mapped[str] = mapped_column(Text)
    # What the number measures, as a slug shared by every claim about the same fact; claims
    # compare (agree, conflict, corroborate) only on the same fact. None compares with nothing.
    fact: Mapped[str | None] = mapped_column(Text)
    metric: Mapped[Metric] = mapped_column(text_enum(Metric, "metric"))
    value: Mapped[Decimal | None] = mapped_column(Numeric)
    value_min: Mapped[Decimal | None] = mapped_column(Numeric)
    value_max: Mapped[Decimal | None] = mapped_column(Numeric)
    unit: Mapped[Unit] = mapped_column(text_enum(Unit, "unit"))
    approximation: Mapped[Approximation] = mapped_column(text_enum(Approximation, "approximation"))
    claimant_organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    claimant_testimony_id: Mapped[str | None] = mapped_column(
        ForeignKey("testimonies.id", ondelete="RESTRICT")
    )
    stance: Mapped[Stance] = mapped_column(text_enum(Stance, "stance"))
    about_facility_id: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.id", ondelete="RESTRICT")
    )
    about_testimony_id: Mapped[str | None] = mapped_column(
        ForeignKey("testimonies.id", ondelete="RESTRICT")
    )
    about_organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    notes: Mapped[str | None] = mapped_column(Text)
    # Its own level; the level it is served at is the strictest of this and its testimonies'.
    protection_level: Mapped[ProtectionLevel] = mapped_column(
        text_enum(ProtectionLevel, "protection_level"), server_default=ProtectionLevel.public
    )
    # Who makes the claim may be protected while what it says is not: below this level the
    # claimant is withheld and described by `claimant_description` instead.
    claimant_level: Mapped[ProtectionLevel] = mapped_column(
        text_enum(ProtectionLevel, "claimant_level"), server_default=ProtectionLevel.public
    )
    claimant_description: Mapped[str | None] = mapped_column(Text)
    # Why the claim, or its claimant, is protected: given whenever either level is above public.
    protection_reason: Mapped[str | None] = mapped_column(Text)

    claimant_organization: Mapped[Organization | None] = relationship(
        foreign_keys=[claimant_organization_id], lazy="raise"
    )
    claimant_testimony: Mapped[Testimony | None] = relationship(
        foreign_keys=[claimant_testimony_id], lazy="raise"
    )
    about_facility: Mapped[Facility | None] = relationship(lazy="raise")
    about_testimony: Mapped[Testimony | None] = relationship(
        foreign_keys=[about_testimony_id], lazy="raise"
    )
    about_organization: Mapped[Organization | None] = relationship(
        foreign_keys=[about_organization_id], lazy="raise"
    )

    __table_args__ = (
        *Quoted.quote_checks(),
        *Period.period_checks(),
        CheckConstraint(
            "num_nonnulls(claimant_organization_id, claimant_testimony_id) = 1",
            name="one_claimant",
        ),
        CheckConstraint("num_nonnulls(value, value_min, value_max) >= 1", name="has_value"),
        CheckConstraint(
            "(protection_level = 'public' AND claimant_level = 'public') "
            "OR protection_reason IS NOT NULL",
            name="protection_reason_given",
        ),
        CheckConstraint(
            "value_min <= value AND value <= value_max AND value_min <= value_max",
            name="value_range",
        ),
        # value_min/value_max hold the range a number may take; NULL is an open side.
        Index("ix_claims_value_min", "value_min"),
        Index("ix_claims_value_max", "value_max"),
        Index("ix_claims_metric", "metric"),
        Index("ix_claims_protection_level", "protection_level"),
        Index("ix_claims_unit", "unit"),
        Index("ix_claims_stance", "stance"),
        Index("ix_claims_claimant_organization_id", "claimant_organization_id"),
        Index("ix_claims_claimant_testimony_id", "claimant_testimony_id"),
        Index("ix_claims_about_facility_id", "about_facility_id"),
        Index("ix_claims_about_testimony_id", "about_testimony_id"),
        Index("ix_claims_about_organization_id", "about_organization_id"),
        Index("ix_claims_updated_at_id", "updated_at", "id"),
    )


# A claim's number for sorting: the point value, else whichever bound is given.
value_sort_key = func.coalesce(Claim.value, Claim.value_min, Claim.value_max)
period_ascending = undated_last(Claim.period_start, descending=False)
period_descending = undated_last(Claim.period_start, descending=True)
period_lower, period_upper = period_bounds(Claim)
Index("ix_claims_value_sort_id", value_sort_key, Claim.id)
# The claims that may protect a passage of their source (see the quote policy in
# app/sources/citations.py): found per source without reading its public claims.
Index(
    "ix_claims_possibly_protected_source",
    Claim.source_id,
    postgresql_where=text(
        "protection_level <> 'public' OR claimant_testimony_id IS NOT NULL "
        "OR about_testimony_id IS NOT NULL"
    ),
)


def subject_key(claim: Any) -> tuple[Any, ...]:
    """What a claim measures and about what: fact, metric, unit and subjects, with "about
    nothing" as '' so that it equals itself and an index answers which claims share it. A
    claim without a fact keeps its NULL: it equals no other claim's key."""
    return (
        claim.fact,
        claim.metric,
        claim.unit,
        func.coalesce(claim.about_facility_id, ""),
        func.coalesce(claim.about_testimony_id, ""),
        func.coalesce(claim.about_organization_id, ""),
    )


def claimant_key(claim: Any) -> Any:
    """Who makes the claim as one value (the id of its organization or of its testimony)."""
    return func.coalesce(claim.claimant_organization_id, claim.claimant_testimony_id)


# Then by who says it and the source quoted: whether any claim of a subject by one claimant
# in one source agrees with another is one probe.
Index(
    "ix_claims_subject",
    *subject_key(Claim),
    claimant_key(Claim),
    Claim.source_id,
    func.coalesce(Claim.relayed_from_id, ""),
)
Index("ix_claims_period_asc_id", period_ascending, Claim.id)
Index("ix_claims_period_desc_id", period_descending, Claim.id)
Index("ix_claims_period_lower", period_lower)
Index("ix_claims_period_upper", period_upper)
