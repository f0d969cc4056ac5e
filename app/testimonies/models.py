from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import (
    Base,
    EvidenceRecord,
    Period,
    Supported,
    Timestamped,
    period_bounds,
    text_enum,
    undated_last,
)
from app.facilities.models import Facility
from app.kit.protection import ProtectionLevel
from app.kit.provinces import Province
from app.sources.quotes import quotes_sources
from app.sources.quoting import Quoted
from app.sources.schemas import Speaker
from app.testimonies.schemas import Gender, WitnessRole

testimony_facilities = Table(
    "testimony_facilities",
    Base.metadata,
    Column("testimony_id", ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "facility_id",
        ForeignKey("facilities.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    ),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)


class Testimony(Period, EvidenceRecord, Base):
    __tablename__ = "testimonies"

    witness_pseudonym: Mapped[str] = mapped_column(Text)
    pseudonym_is_real_name: Mapped[bool] = mapped_column(Boolean, server_default="false")
    witness_role: Mapped[WitnessRole] = mapped_column(text_enum(WitnessRole, "witness_role"))
    witness_gender: Mapped[Gender] = mapped_column(
        text_enum(Gender, "witness_gender"), server_default=Gender.unknown
    )
    witness_age_at_start: Mapped[int | None] = mapped_column(SmallInteger)
    witness_birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    province: Mapped[Province | None] = mapped_column(text_enum(Province, "province"))
    county: Mapped[str | None] = mapped_column(Text)
    labour_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    summary: Mapped[str] = mapped_column(Text)
    protection_level: Mapped[ProtectionLevel] = mapped_column(
        text_enum(ProtectionLevel, "protection_level"), server_default=ProtectionLevel.restricted
    )
    protection_reason: Mapped[str | None] = mapped_column(Text)

    facilities: Mapped[list[Facility]] = relationship(
        secondary=testimony_facilities, order_by="Facility.id", lazy="raise"
    )
    excerpts: Mapped[list[TestimonyExcerpt]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="TestimonyExcerpt.position"
    )

    __table_args__ = (
        *Period.period_checks(),
        CheckConstraint(
            "protection_level = 'public' OR protection_reason IS NOT NULL",
            name="protection_reason_given",
        ),
        Index("ix_testimonies_province", "province"),
        Index("ix_testimonies_witness_role", "witness_role"),
        Index("ix_testimonies_protection_level", "protection_level"),
        Index("ix_testimonies_labour_types", "labour_types", postgresql_using="gin"),
        Index("ix_testimonies_updated_at_id", "updated_at", "id"),
    )


@quotes_sources
class TestimonyExcerpt(Quoted, Supported, Timestamped, Base):
    """A verbatim quote of the account: the witness's own words, or the reporter's narration
    about the witness (`speaker`)."""

    __tablename__ = "testimony_excerpts"

    id: Mapped[int] = mapped_column(primary_key=True)
    testimony_id: Mapped[str] = mapped_column(
        ForeignKey("testimonies.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    protection_level: Mapped[ProtectionLevel] = mapped_column(
        text_enum(ProtectionLevel, "protection_level"), server_default=ProtectionLevel.public
    )
    speaker: Mapped[Speaker] = mapped_column(
        text_enum(Speaker, "speaker"), server_default=Speaker.witness
    )

    __table_args__ = Quoted.quote_checks()


period_ascending = undated_last(Testimony.period_start, descending=False)
period_descending = undated_last(Testimony.period_start, descending=True)
period_lower, period_upper = period_bounds(Testimony)
Index("ix_testimonies_period_asc_id", period_ascending, Testimony.id)
Index("ix_testimonies_period_desc_id", period_descending, Testimony.id)
Index("ix_testimonies_period_lower", period_lower)
Index("ix_testimonies_period_upper", period_upper)
