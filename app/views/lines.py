"""Stored views as the lines of an export, put together by PostgreSQL.

An export streams every record a list matches, and Python per record would cost many times
what the database spends reading it. So each line is one SQL expression over the stored view
(see `app.views.models.RecordView`), with the request's base URL and access date as its
parameters:

* NDJSON: the body, the live figures and `cite_as`: exactly `StoredView.json`;
* CSV: the pieces of the line stored when the view was rendered (`csv`), joined with the
  cells of the live figures and of `cite_as`.

Live figures are integers or null, whose text is the same in SQL and in Python.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Text, case, cast, func, literal_column
from sqlalchemy.dialects.postgresql import JSONB

from app.kit.citing import Citer
from app.kit.tables import FORMULA_STARTS, columns_of, csv_cell, csv_field
from app.views.models import RecordView
from app.views.rendering import CITE_AS

# What makes a CSV field quoted: a comma, a quote or a line break.
_QUOTED = '[",\r\n]'

# What each view disclosed; NULL for nothing (most views), so that only the others are read.
DISCLOSED: ColumnElement[Any] = func.nullif(
    RecordView.disclosed, literal_column("'{}'::jsonb", JSONB)
).label("disclosed")


def check_live(model: type[BaseModel], live: Sequence[str]) -> None:
    """Refuses a live figure that is not an integer: the text SQL gives of another JSON
    value (a float, an object) may differ from Python's."""
    for name in live:
        info = model.model_fields.get(name)
        annotation = info.annotation if info is not None else None
        union = get_origin(annotation) in (Union, types.UnionType)
        options = set(get_args(annotation)) if union else {annotation}
        if options - {type(None)} != {int}:
            raise TypeError(f"{model.__name__}.{name}: a live figure is an integer or null")


def _joined(first: ColumnElement[str], *rest: ColumnElement[str] | str) -> ColumnElement[str]:
    """The parts as one text (`||`): NULL if any part is."""
    line = first
    for part in rest:
        line = line + part
    return line


def _cite(citer: Citer) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """Each view's permalink and citation text, for this request."""
    kind, record_id = RecordView.kind.expression, RecordView.record_id.expression
    permalink = citer.permalink_sql(kind, record_id)
    text = citer.text_sql(kind, record_id, RecordView.cite.expression)
    return permalink, text


def _json_string(text: ColumnElement[str]) -> ColumnElement[str]:
    # PostgreSQL escapes a JSON string as Python's encoder does without ensure_ascii.
    return cast(func.to_json(text), Text)


def _csv_text(text: ColumnElement[str]) -> ColumnElement[str]:
    """`csv_field(csv_cell(text))` for a text that never reads as a number (a permalink, a
    citation): neutralised when it starts as a formula does, then quoted if it must be."""
    neutral = case((func.left(text, 1).in_(FORMULA_STARTS), "'" + text), else_=text)
    quoted = '"' + func.replace(neutral, '"', '""', type_=Text) + '"'
    return case((text.regexp_match(_QUOTED), quoted), else_=neutral)


def ndjson_line(citer: Citer, live: Sequence[str]) -> ColumnElement[str]:
    """Each view's line of an NDJSON export: `StoredView.json` and a line end."""
    parts: list[ColumnElement[str] | str] = []
    for name in live:  # the name of a field: nothing to escape
        parts += [f',"{name}":', func.coalesce(cast(RecordView.live[name], Text), "null")]
    permalink, text = _cite(citer)
    parts += [',"cite_as":{"permalink":', _json_string(permalink), ',"text":']
    parts += [_json_string(text), f',"accessed":"{citer.accessed.isoformat()}"}}}}\n']
    return _joined(RecordView.body.expression, *parts)


def csv_line(citer: Citer, model: type[BaseModel], live: Sequence[str]) -> ColumnElement[str]:
    """Each view's line of a CSV export of `model`'s records: the pieces stored around the
    cells of the live figures and of `cite_as`, joined with those cells."""
    permalink, text = _cite(citer)
    cells: dict[str, ColumnElement[str] | str] = {
        f"{CITE_AS}.permalink": _csv_text(permalink),
        f"{CITE_AS}.text": _csv_text(text),
        f"{CITE_AS}.accessed": csv_field(csv_cell(citer.accessed.isoformat())),
    }
    for name in live:
        cells[name] = func.coalesce(RecordView.live[name].astext, "")
    parts: list[ColumnElement[str] | str] = []
    pieces = 1  # PostgreSQL arrays count from 1
    for column in columns_of(model):
        if column.steps[0][0] in (CITE_AS, *live):
            pieces += 1
            parts += [cells[column.header], RecordView.csv[pieces]]
    return _joined(RecordView.csv[1], *parts)
