from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, EvidenceRecord, Supported, Timestamped, text_enum
from app.facilities.schemas import AliasScript, FacilityType, LocationPrecision
from app.kit.provinces import Province
from app.organizations.models import Organization
from app.sources.quotes import quotes_sources
from app.sources.quoting import Quoted


class Facility(EvidenceRecord, Base):
    __tablename__ = "facilities"

    name: Mapped[str] = mapped_column(Text)
    facility_type: Mapped[FacilityType] = mapped_column(text_enum(FacilityType, "facility_type"))
    province: Mapped[Province | None] = mapped_column(text_enum(Province, "province"))
    county: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(8, 5))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(8, 5))
    location_precision: Mapped[LocationPrecision] = mapped_column(
        text_enum(LocationPrecision, "location_precision"),
        server_default=LocationPrecision.unknown,
    )
    operator_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    products: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    description: Mapped[str | None] = mapped_column(Text)

    operator: Mapped[Organization | None] = relationship(lazy="raise")
    aliases: Mapped[list[FacilityAlias]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="FacilityAlias.position"
    )
    mentions: Mapped[list[FacilityMention]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="FacilityMention.position"
    )

    __table_args__ = (
        CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="coordinates_pair"),
        CheckConstraint(
            "(latitude IS NULL) = (location_precision = 'unknown')", name="location_known"
        ),
        CheckConstraint(
            "latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180",
            name="coordinates_range",
        ),
        Index("ix_facilities_facility_type", "facility_type"),
        Index("ix_facilities_province", "province"),
        Index("ix_facilities_operator_id", "operator_id"),
        Index("ix_facilities_has_location", "id", postgresql_where="latitude IS NOT NULL"),
        Index("ix_facilities_name_id", "name", "id"),
        Index("ix_facilities_updated_at_id", "updated_at", "id"),
    )


class FacilityAlias(Timestamped, Base):
    __tablename__ = "facility_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(3))
    script: Mapped[AliasScript] = mapped_column(text_enum(AliasScript, "script"))

    __table_args__ = (Index("ix_facility_aliases_facility_id", "facility_id"),)


@quotes_sources
class FacilityMention(Quoted, Supported, Timestamped, Base):
    """A quote in which a source names or locates a facility."""

    __tablename__ = "facility_mentions"

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[str] = mapped_column(
        ForeignKey("facilities.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]

    __table_args__ = Quoted.quote_checks()
