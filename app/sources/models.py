from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, EvidenceRecord, Timestamped, text_enum, undated_last
from app.kit.partial_dates import DatePrecision
from app.kit.protection import ProtectionLevel
from app.organizations.models import Organization
from app.sources.schemas import SourceType


class Source(EvidenceRecord, Base):
    __tablename__ = "sources"

    title: Mapped[str] = mapped_column(Text)
    # The document has no title: `title` describes it (stored without square brackets).
    title_supplied: Mapped[bool] = mapped_column(Boolean, server_default="false")
    publisher_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    authors: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    source_type: Mapped[SourceType] = mapped_column(text_enum(SourceType, "source_type"))
    # First and last day the publication date may denote ("2021-05": May 1st and 31st).
    published_on: Mapped[date | None] = mapped_column(Date)
    published_until: Mapped[date | None] = mapped_column(Date)
    published_precision: Mapped[DatePrecision] = mapped_column(
        text_enum(DatePrecision, "published_precision"), server_default=DatePrecision.unknown
    )
    url: Mapped[str | None] = mapped_column(Text, unique=True)
    language: Mapped[str] = mapped_column(String(35), server_default="en")
    accessed_on: Mapped[date | None] = mapped_column(Date)
    archived_text: Mapped[str | None] = mapped_column(Text, deferred=True)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    # Spans of the archived text that are not part of the document (injected links,
    # boilerplate): [{"char_start", "char_end", "reason"}], in text order, not overlapping.
    excluded_spans: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    notes: Mapped[str | None] = mapped_column(Text)
    # A published article is public; an unpublished interview transcript is confidential.
    protection_level: Mapped[ProtectionLevel] = mapped_column(
        text_enum(ProtectionLevel, "protection_level"), server_default=ProtectionLevel.public
    )
    protection_reason: Mapped[str | None] = mapped_column(Text)

    publisher: Mapped[Organization | None] = relationship(lazy="raise")
    relays: Mapped[list[Source]] = relationship(
        secondary="source_relays",
        primaryjoin="Source.id == SourceRelay.relaying_source_id",
        secondaryjoin="Source.id == SourceRelay.relayed_source_id",
        order_by="Source.id",
        lazy="raise",
    )
    relayed_by: Mapped[list[Source]] = relationship(
        secondary="source_relays",
        primaryjoin="Source.id == SourceRelay.relayed_source_id",
        secondaryjoin="Source.id == SourceRelay.relaying_source_id",
        order_by="Source.id",
        lazy="raise",
        viewonly=True,
    )

    __table_args__ = (
        CheckConstraint(
            "protection_level = 'public' OR protection_reason IS NOT NULL",
            name="protection_reason_given",
        ),
        CheckConstraint(
            "(published_on IS NULL) = (published_precision = 'unknown')", name="published_known"
        ),
        CheckConstraint(
            "(published_until IS NULL) = (published_on IS NULL) "
            "AND published_on <= published_until",
            name="published_span",
        ),
        CheckConstraint("archive_sha256 ~ '^[0-9a-f]{64}$'", name="archive_sha256_hex"),
        CheckConstraint(
            "jsonb_typeof(excluded_spans) = 'array' "
            "AND (excluded_spans = '[]'::jsonb OR archived_text IS NOT NULL)",
            name="excluded_spans_in_text",
        ),
        Index("ix_sources_publisher_id", "publisher_id"),
        Index("ix_sources_source_type", "source_type"),
        Index("ix_sources_language", "language"),
        Index("ix_sources_published_on", "published_on"),
        Index("ix_sources_published_until", "published_until"),
        Index("ix_sources_title_id", "title", "id"),
        Index("ix_sources_updated_at_id", "updated_at", "id"),
    )


# Sort keys with undated rows last in either direction; the indexes use the same expressions.
published_ascending = undated_last(Source.published_on, descending=False)
published_descending = undated_last(Source.published_on, descending=True)
Index("ix_sources_published_asc_id", published_ascending, Source.id)
Index("ix_sources_published_desc_id", published_descending, Source.id)


class SourceRelay(Timestamped, Base):
    """Source `relaying_source_id` reports what source `relayed_source_id` said."""

    __tablename__ = "source_relays"

    relaying_source_id: Mapped[str] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    relayed_source_id: Mapped[str] = mapped_column(
        ForeignKey("sources.id", ondelete="RESTRICT"), primary_key=True
    )

    __table_args__ = (
        CheckConstraint("relaying_source_id <> relayed_source_id", name="not_self"),
        Index("ix_source_relays_relayed_source_id", "relayed_source_id"),
    )
