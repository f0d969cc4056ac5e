"""Records as flat tables, for spreadsheets: the columns of an output model, declared from the
model (never from data, so every export of a list has the same header), their values, and
their Table Schema (the Frictionless Data standard that describes a CSV file's columns).

A record becomes one row:

* a nested object becomes dotted columns (`period.start`, `claimant.id`);
* a list of values becomes one column, the values joined with "; " (`aliases`);
* a list that holds at most one object (declared with `max_length=1`, as a claim's one
  citation) is flat like a nested object (`citations.source.id`, `citations.quote`);
* any other list of objects (a testimony's excerpts) becomes a count (`citations.count`) and
  one column per field of its items, each item's value on a line of its own, so that the
  n-th line of `citations.source.id` is the source of the n-th line of `citations.quote`;
  lists inside those items are joined with "; " on their item's line.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

# A cell as the data holds it: typed for a spreadsheet, text for CSV.
Cell = str | int | float | bool | None
# How a step of a column's path reads its field: the value itself, the first (only) item of a
# list, or every item of a list.
Shape = Literal["one", "first", "each"]

ITEM_SEPARATOR = "\n"
VALUE_SEPARATOR = "; "
_SEQUENCES = (list, tuple, set, frozenset)


@dataclass(frozen=True)
class Column:
    """One column of a flat table: the path to its value in a record (as the JSON list shows
    it), its Table Schema type, and what the output model says of it."""

    steps: tuple[tuple[str, Shape], ...]
    type: str = "string"  # a Table Schema type: string, integer, number, boolean, date, datetime
    counts: bool = False  # the number of items of the list the path names
    description: str | None = None
    enum: tuple[str, ...] = ()

    @property
    def header(self) -> str:
        return ".".join(key for key, _ in self.steps) + (".count" if self.counts else "")

    def value(self, record: dict[str, Any]) -> Cell:
        if self.counts:
            items = _pick(record, (*self.steps[:-1], (self.steps[-1][0], "one")), 0, raw=True)
            return len(items) if isinstance(items, list) else 0
        value: Cell = _pick(record, self.steps, 0)
        return value

    def field(self) -> dict[str, Any]:
        """The column's Table Schema field descriptor."""
        described: dict[str, Any] = {"name": self.header, "type": self.type}
        if self.description:
            described["description"] = self.description
        if self.enum:
            described["constraints"] = {"enum": list(self.enum)}
        return described


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _pick(value: Any, steps: tuple[tuple[str, Shape], ...], level: int, raw: bool = False) -> Any:
    """The value at `steps`; across a list of objects, every item's value, joined (lines for
    the outermost list, "; " inside one of its items). A list or object found at the end is
    joined or JSON text, unless `raw`."""
    for position, (key, shape) in enumerate(steps):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
        if shape == "first":
            value = value[0] if isinstance(value, list) and value else None
        elif shape == "each":
            if not isinstance(value, list) or not value:
                return None
            separator = ITEM_SEPARATOR if level == 0 else VALUE_SEPARATOR
            rest = steps[position + 1 :]
            return separator.join(_text(_pick(item, rest, level + 1)) for item in value)
    if raw:
        return value
    if isinstance(value, list):
        return VALUE_SEPARATOR.join(_text(item) for item in value) if value else None
    if isinstance(value, dict):
        return _text(value)
    return value


def _without_none(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _at_most_one(info: FieldInfo) -> bool:
    return any(isinstance(m, MaxLen) and m.max_length <= 1 for m in info.metadata)


def _scalar_type(options: Iterable[Any]) -> tuple[str, tuple[str, ...]]:
    """The Table Schema type of a scalar field, and its allowed values for an enumeration."""
    options = list(options)
    if all(isinstance(o, type) and issubclass(o, Enum) for o in options):
        return "string", tuple(str(member.value) for o in options for member in o)
    if options == [bool]:
        return "boolean", ()
    if options == [int]:
        return "integer", ()
    if all(o in (int, float, Decimal) for o in options):
        return "number", ()
    if options == [datetime]:
        return "datetime", ()
    if options == [date]:
        return "date", ()
    return "string", ()


def table_columns(
    model: type[BaseModel],
    prefix: tuple[tuple[str, Shape], ...] = (),
    in_list: bool = False,
) -> list[Column]:
    """The columns of `model`'s records, in the order of its fields."""
    columns: list[Column] = []
    for name, info in model.model_fields.items():
        key = info.serialization_alias or info.alias or name
        options = _without_none(info.annotation)
        sequence = len(options) == 1 and get_origin(options[0]) in _SEQUENCES
        items = [i for a in get_args(options[0]) for i in _without_none(a)] if sequence else []
        if len(options) == 1 and _is_model(options[0]):
            columns += table_columns(options[0], (*prefix, (key, "one")), in_list)
        elif len(items) == 1 and _is_model(items[0]) and _at_most_one(info):
            columns += table_columns(items[0], (*prefix, (key, "first")), in_list)
        elif len(items) == 1 and _is_model(items[0]):
            steps = (*prefix, (key, "each"))
            if not in_list:
                counted = f"How many items `{'.'.join(k for k, _ in steps)}` holds."
                columns.append(Column(steps, "integer", counts=True, description=counted))
            columns += table_columns(items[0], steps, in_list=True)
        else:
            steps = (*prefix, (key, "one"))
            kind, allowed = ("string", ()) if sequence or in_list else _scalar_type(options)
            columns.append(Column(steps, kind, description=info.description, enum=allowed))
    return columns


@cache
def columns_of(model: type[BaseModel]) -> tuple[Column, ...]:
    """`table_columns(model)`, worked out once per model."""
    return tuple(table_columns(model))


def table_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The Table Schema of the flat table of `model`'s records, keyed by their `id`."""
    return {
        "fields": [column.field() for column in table_columns(model)],
        "primaryKey": ["id"],
        "missingValues": [""],
    }


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet would take this text for a formula (numbers such as -5 or +1.5
    are numbers, not formulas)."""
    return text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text)


def neutralise_formula(text: str) -> str:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe, which
    makes spreadsheets show it as text."""
    return "'" + text if runs_as_formula(text) else text


def csv_cell(value: Cell) -> str:
    """A cell as CSV text: null empty, booleans `true`/`false`, formulas neutralised."""
    return neutralise_formula(_text(value))


# RFC 4180 as Python's csv writer writes it (minimal quoting, CRLF line ends).
LINE_END = "\r\n"
_QUOTED = re.compile(r'[,"\r\n]')


def csv_field(text: str) -> str:
    """One field of a CSV line: quoted, its quotes doubled, when it holds a comma, a quote
    or a line break."""
    if _QUOTED.search(text) is None:
        return text
    return '"' + text.replace('"', '""') + '"'


def csv_line(fields: Iterable[str]) -> str:
    return ",".join(map(csv_field, fields)) + LINE_END


def csv_header(model: type[BaseModel]) -> str:
    """The header line of a CSV file of `model`'s records."""
    return csv_line(column.header for column in columns_of(model))


def mark(name: str) -> str:
    """A stand-in for a value known only when a line is served, in a line written ahead of
    it. PostgreSQL text never holds NUL, so no record's own text can look like one."""
    return f"\x00{name}\x00"


_MARK = re.compile("\x00([^\x00]+)\x00")


def split_at_marks(text: str) -> tuple[list[str], list[str]]:
    """The n + 1 pieces of `text` around the marks it holds (see `mark`), and the names of
    the n marks in order."""
    parts = _MARK.split(text)
    return parts[0::2], parts[1::2]


def marked_line(model: type[BaseModel], record: dict[str, Any]) -> tuple[list[str], list[str]]:
    """`record`'s CSV line cut at the marks its values hold (`split_at_marks`). A mark is
    written as it is: a cell holding one is quoted, or not, as it would be holding text
    without a comma, a quote or a line break in its place."""
    return split_at_marks(csv_line(csv_cell(column.value(record)) for column in columns_of(model)))
