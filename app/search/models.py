from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class SearchDocument(Base):
    """What one access tier is shown of one record, prepared for searching.

    A record has one document per distinct view: public records one for every tier, a
    restricted testimony a coarsened one (no county, no withheld quotes) for the public tier
    and a full one for the others, a confidential record none for the tiers that must not
    learn it exists. A search therefore only ever matches text its client may read.
    """

    __tablename__ = "search_documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)  # the record's collection, e.g. "claims"
    record_id: Mapped[str] = mapped_column(Text)
    # "claims/<id>": unique among the documents one tier sees; ties in ranked results.
    ref: Mapped[str] = mapped_column(Text)
    tiers: Mapped[list[str]] = mapped_column(ARRAY(Text))
    retracted: Mapped[bool] = mapped_column(Boolean)
    # The record's last change: a search ranks its most recently changed matches.
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    title: Mapped[str] = mapped_column(Text)
    vector: Mapped[str] = mapped_column(TSVECTOR)
    # Folded names (see app.search.folding), for trigram matching across spellings.
    names: Mapped[str | None] = mapped_column(Text)
    # The shown text, for highlighted snippets.
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_search_documents_kind_record_id", "kind", "record_id"),
        Index("ix_search_documents_vector", "vector", postgresql_using="gin"),
        Index("ix_search_documents_changed_at_id", "changed_at", "id"),
        Index(
            "ix_search_documents_names",
            "names",
            postgresql_using="gin",
            postgresql_ops={"names": "gin_trgm_ops"},
        ),
    )
