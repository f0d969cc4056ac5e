from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, PublicRecord


class AuditEvent(PublicRecord, Base):
    """One request that disclosed restricted or confidential records, or wrote any.
    `created_at` is when it happened."""

    __tablename__ = "audit_events"

    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    records: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")

    __table_args__ = (
        Index("ix_audit_events_created_at_id", "created_at", "id"),
        Index("ix_audit_events_updated_at_id", "updated_at", "id"),
        Index("ix_audit_events_key_id", "key_id"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_records", "records", postgresql_using="gin"),
    )
