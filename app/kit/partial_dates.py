"""Dates known to a day, a month or a year, as the sources give them.

On the wire a partial date is an ISO 8601 string of reduced precision ("2021", "2021-05",
"2021-05-28"). In the database it is a date plus a precision. A period's start is stored as the
first day it may denote and its end as the last day, so overlap queries need no arithmetic.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema


class DatePrecision(StrEnum):
    day = "day"
    month = "month"
    year = "year"
    unknown = "unknown"


_PATTERN = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date and how much of it is known. `value` is the first day the date may denote."""

    value: date
    precision: DatePrecision

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        match = _PATTERN.match(text.strip())
        if match is None:
            raise ValueError("expected an ISO 8601 date: YYYY, YYYY-MM or YYYY-MM-DD")
        year, month, day = match.groups()
        if day is not None:
            return cls(date(int(year), int(month), int(day)), DatePrecision.day)
        if month is not None:
            return cls(date(int(year), int(month), 1), DatePrecision.month)
        return cls(date(int(year), 1, 1), DatePrecision.year)

    @classmethod
    def from_columns(cls, value: date | None, precision: str) -> PartialDate | None:
        if value is None:
            return None
        return cls(value, DatePrecision(precision))

    @property
    def first_day(self) -> date:
        if self.precision is DatePrecision.year:
            return date(self.value.year, 1, 1)
        if self.precision is DatePrecision.month:
            return date(self.value.year, self.value.month, 1)
        return self.value

    @property
    def last_day(self) -> date:
        if self.precision is DatePrecision.year:
            return date(self.value.year, 12, 31)
        if self.precision is DatePrecision.month:
            days = calendar.monthrange(self.value.year, self.value.month)[1]
            return date(self.value.year, self.value.month, days)
        return self.value

    def __str__(self) -> str:
        if self.precision is DatePrecision.year:
            return f"{self.value.year:04d}"
        if self.precision is DatePrecision.month:
            return f"{self.value.year:04d}-{self.value.month:02d}"
        return self.value.isoformat()


def _validate(value: Any) -> PartialDate:
    if isinstance(value, PartialDate):
        return value
    if isinstance(value, date):
        return PartialDate(value, DatePrecision.day)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date string: YYYY, YYYY-MM or YYYY-MM-DD")
    return PartialDate.parse(value)


PartialDateField = Annotated[
    PartialDate,
    PlainValidator(_validate),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}(-\d{2}(-\d{2})?)?$",
            "description": "ISO 8601 date of reduced precision: YYYY, YYYY-MM or YYYY-MM-DD.",
            "examples": ["2021-05-28", "2021-05", "2021"],
        }
    ),
]
