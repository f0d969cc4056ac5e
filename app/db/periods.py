"""Period-overlap filters shared by testimonies and claims."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Integer, func

from app.db.base import Period
from app.kit.partial_dates import DatePrecision, PartialDate


def overlap_conditions(
    lower: Any, upper: Any, period_from: date | None, period_to: date | None
) -> list[Any]:
    """Rows whose [lower, upper] span overlaps [period_from, period_to]; undated rows never do."""
    conditions = []
    if period_from is not None:
        conditions.append(upper >= period_from)
    if period_to is not None:
        conditions.append(lower <= period_to)
    return conditions


def period_of(record: Period) -> dict[str, str | None]:
    """The record's period, as its `PeriodOut` serialises."""
    start = PartialDate.from_columns(record.period_start, record.period_start_precision)
    end = PartialDate.from_columns(record.period_end, record.period_end_precision)
    return {"start": str(start) if start else None, "end": str(end) if end else None}


def set_period(record: Period, start: PartialDate | None, end: PartialDate | None) -> None:
    """Store a start as the first day it may denote and an end as the last."""
    record.period_start = start.first_day if start else None
    record.period_start_precision = start.precision if start else DatePrecision.unknown
    record.period_end = end.last_day if end else None
    record.period_end_precision = end.precision if end else DatePrecision.unknown


def widened_to_years(lower: Any, upper: Any) -> tuple[Any, Any]:
    """Period bounds widened to whole years: what a client sees of a coarsened record, so
    that filtering cannot reveal the exact dates the record does not show."""
    return (
        func.make_date(func.extract("year", lower).cast(Integer), 1, 1),
        func.make_date(func.extract("year", upper).cast(Integer), 12, 31),
    )
