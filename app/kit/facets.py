"""Facets: how many of the matching records fall in each group of a field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import array

from app.kit.provinces import PROVINCE_LABELS, Province

UNKNOWN_LABEL = "Unknown"


class FacetGroup(BaseModel):
    key: str | None = Field(
        description="The group's value, as the filter of the same name takes it; null for "
        "the records where the field is unknown."
    )
    label: str = Field(description="The value in words.")
    count: int | str = Field(
        description="Matching records in the group. Counts of testimonies below the "
        "small-cell threshold read like '<5' for clients without read:restricted."
    )


def words(value: Any) -> str:
    """A value for people: provinces by name, enum values with spaces ('coal_mine' reads
    'Coal mine')."""
    if isinstance(value, Province):
        return PROVINCE_LABELS[value]
    if isinstance(value, StrEnum):
        value = value.value
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Counted:
    """The fields a record is counted under in the counts kept per tier (`app.views.counts`):
    a facet's key, or several fields counted together (the statistics' claims by metric and
    unit). An array field counted by element (`each_element`) counts a record once under each
    of its elements, and an empty array once as unknown."""

    fields: tuple[Any, ...]
    each_element: bool = False

    def values(self) -> ColumnElement[Any]:
        """The values a record is counted under, as one text array: the fields' own (one
        group), or the array's elements (one group each)."""
        if self.each_element:
            (elements,) = self.fields
            # An empty array is one unknown, not nothing.
            empty: ColumnElement[Any] = literal_column("ARRAY[NULL]::text[]")
            return case((func.cardinality(elements) > 0, elements), else_=empty)
        return array([cast(value, Text) for value in self.fields])

    def groups(self, values: list[str | None]) -> list[list[str | None]]:
        """The groups (each a list of the fields' values) of what `values()` gave."""
        return [[value] for value in values] if self.each_element else [values]

    def typed(self, group: Sequence[str | None]) -> tuple[Any, ...]:
        """A group's values as the fields give them (an enum member, a number), from their
        text."""
        types = [field.type.item_type if self.each_element else field.type for field in self.fields]
        return tuple(
            None if value is None else type_.python_type(value)
            for value, type_ in zip(group, types, strict=True)
        )


@dataclass(frozen=True)
class Facet:
    """One field to group by.

    `key` is the grouped expression (NULL where unknown). When the key is the id of another
    kind of record (`named_by`, e.g. a facility), groups are labelled with that record's
    name; otherwise `label` applied to the key gives the label. A key that is an array
    (`each_element`) counts a record once in each of its elements' groups.
    """

    key: Any
    label: Callable[[Any], str] = words
    named_by: Any = None
    each_element: bool = False
    always_known: bool = False  # no unknown group: the field is never empty

    @property
    def label_column(self) -> Any:
        return None if self.named_by is None else self.named_by.name

    @property
    def counted(self) -> Counted:
        return Counted((self.key,), each_element=self.each_element)

    def statement(self, model: Any, where: list[ColumnElement[bool]]) -> Select[Any]:
        key = self.key
        if self.each_element:
            inner = select(func.unnest(self.counted.values()).label("key"))
            keys = inner.select_from(model).where(*where).subquery()
            return select(keys.c.key, literal(None), func.count()).group_by(keys.c.key)
        label_column = self.label_column if self.label_column is not None else literal(None)
        statement = select(key, label_column, func.count()).select_from(model)
        if self.named_by is not None:
            statement = statement.outerjoin(self.named_by, self.named_by.id == key)
        return statement.where(*where).group_by(key, label_column)

    def groups(self, rows: list[Any]) -> list[FacetGroup]:
        known: list[FacetGroup] = []
        unknown = 0
        for key, label, count in rows:
            if key is None:
                unknown += count
                continue
            name = label if label is not None else self.label(key)
            value = key.value if isinstance(key, StrEnum) else str(key)
            known.append(FacetGroup(key=value, label=name, count=count))
        ordered = sorted(known, key=lambda g: (-_number(g.count), g.label, g.key or ""))
        if not self.always_known:
            ordered.append(FacetGroup(key=None, label=UNKNOWN_LABEL, count=unknown))
        return ordered


def _number(count: int | str) -> int:
    return count if isinstance(count, int) else 0
