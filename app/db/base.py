from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    Date,
    DateTime,
    Enum,
    Integer,
    MetaData,
    String,
    Text,
    func,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kit.partial_dates import DatePrecision
from app.kit.schemas import RecordStatus

# Stable constraint names, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PublicRecord(Timestamped):
    """A record with a public id: a stable, URL-safe slug that permalinks cite."""

    id: Mapped[str] = mapped_column(String(120), primary_key=True)


def text_enum(enum: type[StrEnum], name: str) -> Enum:
    """A VARCHAR column limited to the enum's values by a named CHECK constraint.

    Plain text plus CHECK keeps adding a value a one-line migration, unlike native enum types.
    """
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class EvidenceRecord(PublicRecord):
    """A record of the evidence: versioned, and retracted rather than deleted."""

    version: Mapped[int] = mapped_column(Integer, server_default="1")
    status: Mapped[RecordStatus] = mapped_column(
        text_enum(RecordStatus, "status"), server_default=RecordStatus.active
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def mark(self, status: RecordStatus, reason: str | None) -> None:
        self.status, self.status_reason = status, reason
        self.status_changed_at = datetime.now(UTC)

    def state(self) -> dict[str, Any]:
        """Where the record stands, as its `RecordState` serialises."""
        return {
            "status": self.status.value,
            "reason": self.status_reason,
            "changed_at": self.status_changed_at,
            "version": self.version,
        }


def undated_last(
    column: ColumnElement[date] | Mapped[date | None], *, descending: bool
) -> ColumnElement[date]:
    """A non-null sort key for a nullable date: missing dates sort after all others.

    The stand-in is a literal, not a bound parameter, so that an index on the same expression
    serves keyset queries.
    """
    # Not the first or last representable day: asyncpg exchanges those as -infinity and
    # infinity, which would break the keyset comparison on a cursor that holds them.
    stand_in = "'0001-01-02'::date" if descending else "'9999-12-30'::date"
    return func.coalesce(column, literal_column(stand_in))


class Supported:
    """A quote inside a record (an excerpt, a mention): `unsupported`, with the reason, once
    the source it quotes is retracted."""

    status: Mapped[RecordStatus] = mapped_column(
        text_enum(RecordStatus, "status"), server_default=RecordStatus.active
    )
    status_reason: Mapped[str | None] = mapped_column(Text)

    def quoted_ids(self) -> tuple[str | None, ...]:
        return (getattr(self, "source_id", None), getattr(self, "relayed_from_id", None))


class Period:
    """A span of time known to varying precision. The start is stored as the first day it may
    denote, the end as the last, so that overlap with [from, to] is two comparisons."""

    period_start: Mapped[date | None] = mapped_column(Date)
    period_start_precision: Mapped[DatePrecision] = mapped_column(
        text_enum(DatePrecision, "period_start_precision"), server_default=DatePrecision.unknown
    )
    period_end: Mapped[date | None] = mapped_column(Date)
    period_end_precision: Mapped[DatePrecision] = mapped_column(
        text_enum(DatePrecision, "period_end_precision"), server_default=DatePrecision.unknown
    )

    @staticmethod
    def period_checks() -> tuple[CheckConstraint, ...]:
        return (
            CheckConstraint(
                "(period_start IS NULL) = (period_start_precision = 'unknown')",
                name="period_start_known",
            ),
            CheckConstraint(
                "(period_end IS NULL) = (period_end_precision = 'unknown')",
                name="period_end_known",
            ),
            CheckConstraint("period_start <= period_end", name="period_ordered"),
        )


def period_bounds(model: type[Period]) -> tuple[ColumnElement[date], ColumnElement[date]]:
    """Earliest and latest day a record's period may cover; a missing end takes the other's."""
    return (
        func.coalesce(model.period_start, model.period_end),
        func.coalesce(model.period_end, model.period_start),
    )
