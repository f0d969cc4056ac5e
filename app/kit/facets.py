"""Facets: how many of the matching records fall in each group of a field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, case, func, literal, literal_column, select
from sqlalchemy.sql.expression import FromClause

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
class Facet:
    """One field to group by.

    `key` is the grouped expression (NULL where unknown). Labels come from `label_column`, a
    column of `join` (a record's name), or else from `label` applied to the key. A key that
    is an array (`each_element`) counts a record once in each of its elements' groups.
    """

    key: Any
    label: Callable[[Any], str] = words
    label_column: Any = None
    join: tuple[FromClause | Any, ColumnElement[bool]] | None = None
    each_element: bool = False
    always_known: bool = False  # no unknown group: the field is never empty

    def statement(self, model: Any, where: list[ColumnElement[bool]]) -> Select[Any]:
        key = self.key
        if self.each_element:
            # An empty array is one unknown, not nothing.
            array = case(
                (func.cardinality(key) > 0, key), else_=literal_column("ARRAY[NULL]::text[]")
            )
            inner = select(func.unnest(array).label("key")).select_from(model).where(*where)
            keys = inner.subquery()
            return select(keys.c.key, literal(None), func.count()).group_by(keys.c.key)
        label_column = self.label_column if self.label_column is not None else literal(None)
        statement = select(key, label_column, func.count()).select_from(model)
        if self.join is not None:
            statement = statement.outerjoin(*self.join)
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
