from __future__ import annotations

from sqlalchemy import Index, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, EvidenceRecord, text_enum
from app.organizations.schemas import OrganizationKind


class Organization(EvidenceRecord, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    kind: Mapped[OrganizationKind] = mapped_column(text_enum(OrganizationKind, "kind"))
    description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_organizations_name_id", "name", "id"),
        Index("ix_organizations_updated_at_id", "updated_at", "id"),
        Index("ix_organizations_kind", "kind"),
    )
