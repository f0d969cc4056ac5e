"""The columns every record that quotes a source shares (claims, excerpts, mentions). Here,
with the sources, rather than in the declarative base: the base knows no kind of record."""

from __future__ import annotations

from typing import cast

from sqlalchemy import CheckConstraint, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from app.sources.models import Source


class Quoted:
    """A verbatim quote from a source and where it stands in the source's archived text."""

    source_id: Mapped[str] = mapped_column(
        ForeignKey("sources.id", ondelete="RESTRICT"), index=True
    )
    quote: Mapped[str] = mapped_column(Text)
    char_start: Mapped[int | None] = mapped_column(Integer)
    char_end: Mapped[int | None] = mapped_column(Integer)
    # The relayed source whose statement the passage reports (one of the source's relays).
    relayed_from_id: Mapped[str | None] = mapped_column(
        ForeignKey("sources.id", ondelete="RESTRICT"), index=True
    )

    @declared_attr
    def source(cls) -> Mapped[Source]:  # noqa: N805
        return relationship(
            Source,
            # Two foreign keys lead to sources: the quote's source is the one named here.
            foreign_keys=lambda: [cast("Mapped[str]", cls.source_id)],
            lazy="raise",
        )

    @staticmethod
    def quote_checks() -> tuple[CheckConstraint, ...]:
        return (
            CheckConstraint(
                "(char_start IS NULL) = (char_end IS NULL) AND char_start >= 0 "
                "AND char_end > char_start",
                name="locator",
            ),
        )
