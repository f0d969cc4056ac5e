"""Stored views as the lines of an export, put together by PostgreSQL.

An export streams every record a list matches, and Python per record would cost many times
what the database spends reading it. So each line is one SQL expression over the stored view
(see `app.views.models.RecordView`), with what the request supplies as parameters:

* NDJSON: the body, the live figures and `cite_as`: exactly `StoredView.json`;
* CSV: the line rendered with the view (`stored_csv`), cut where the request's parts go (the
  live figures, the permalink, the base URL and the access date of the citation text),
  joined again with them.

Live figures are integers or null, whose text is the same in SQL and in Python.
"""

from __future__ import annotations

import json
import types
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Text, case, cast, func, literal, literal_column
from sqlalchemy.dialects.postgresql import JSONB

from app.kit.citing import CITE_AS, Citer, citation_text, permalink_of
from app.kit.tables import (
    FORMULA_STARTS,
    csv_cell,
    csv_field,
    mark,
    marked_line,
    split_at_marks,
)
from app.views.models import RecordView

# Where the request's parts go in a stored CSV line (see `app.kit.tables.mark`).
PERMALINK = f"{CITE_AS}.permalink"  # the whole cell
BASE_URL = f"{CITE_AS}.base_url"  # within the citation text's cell
ACCESSED = f"{CITE_AS}.accessed"
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


def _supplied(plural: str, record_id: str, description: str, live: Sequence[str]) -> dict[str, Any]:
    """The fields of a record that the request supplies, as marks."""
    link = permalink_of(mark(BASE_URL), plural, record_id)
    cite_as = {
        "permalink": mark(PERMALINK),
        "text": citation_text(description, plural, record_id, link, mark(ACCESSED)),
        "accessed": mark(ACCESSED),
    }
    return {CITE_AS: cite_as} | {name: mark(name) for name in live}


@lru_cache(maxsize=64)
def stored_csv(
    model: type[BaseModel],
    body: str,
    plural: str,
    record_id: str,
    description: str,
    live: tuple[str, ...],
) -> tuple[str, ...]:
    """A view's CSV line as it is stored (`body`: its JSON, without what the request
    supplies): the pieces of text around the request's parts. Remembered for the next
    views rendered: the tiers of a record are rendered one after the other, and most of
    them are shown the same."""
    record = json.loads(body) | _supplied(plural, record_id, description, live)
    pieces, _ = marked_line(model, record)
    return tuple(pieces)


@cache
def _marks(model: type[BaseModel], live: tuple[str, ...]) -> list[str]:
    """The request's parts in the order a stored CSV line of `model` leaves room for them."""
    citation = csv_field(citation_text("", "", "", mark(BASE_URL), mark(ACCESSED)))
    if not citation.startswith('"'):
        # The base URL is put in as a quoted cell holds it.
        raise ValueError("a citation's text is expected to hold a comma")
    _, names = marked_line(model, _supplied("", "", "", live))
    return names


def _joined(first: ColumnElement[str], *rest: ColumnElement[str] | str) -> ColumnElement[str]:
    """The parts as one text (`||`): NULL if any part is."""
    line = first
    for part in rest:
        line = line + part
    return line


def _csv_text(text: ColumnElement[str]) -> ColumnElement[str]:
    """`csv_field(csv_cell(text))` for a text that never reads as a number (a permalink):
    neutralised when it starts as a formula does, then quoted if it must be."""
    neutral = case((func.left(text, 1).in_(FORMULA_STARTS), "'" + text), else_=text)
    quoted = '"' + func.replace(neutral, '"', '""', type_=Text) + '"'
    return case((text.regexp_match(_QUOTED), quoted), else_=neutral)


def _permalink_cell(citer: Citer) -> ColumnElement[str]:
    """Each view's permalink as a CSV cell: written around its collection and id, which
    are slugs; for any other id, worked out in full."""
    kind, record_id = RecordView.kind.expression, RecordView.record_id.expression
    cell = csv_field(csv_cell(permalink_of(citer.base_url, mark("plural"), mark("id"))))
    (before, between, after), _ = split_at_marks(cell)
    fast = _joined(literal(before, Text), kind, between, record_id, after)
    full = _csv_text(permalink_of(literal(citer.base_url, Text), kind, record_id))
    return case(((kind + record_id).regexp_match(_QUOTED), full), else_=fast)


def csv_line(citer: Citer, model: type[BaseModel], live: Sequence[str]) -> ColumnElement[str]:
    """Each view's line of a CSV export of `model`'s records: the stored pieces joined
    with the request's parts."""
    parts: dict[str, ColumnElement[str] | str] = {
        PERMALINK: _permalink_cell(citer),
        BASE_URL: citer.base_url.replace('"', '""'),
        ACCESSED: csv_field(csv_cell(citer.accessed.isoformat())),
    }
    for name in live:
        parts[name] = func.coalesce(RecordView.live[name].astext, "")
    line: list[ColumnElement[str] | str] = []
    for piece, name in enumerate(_marks(model, tuple(live)), start=2):  # arrays count from 1
        line += [parts[name], RecordView.csv[piece]]
    return _joined(RecordView.csv[1], *line)


def _json_string(text: ColumnElement[str]) -> ColumnElement[str]:
    # PostgreSQL escapes a JSON string as Python's encoder does without ensure_ascii.
    return cast(func.to_json(text), Text)


def ndjson_line(citer: Citer, live: Sequence[str]) -> ColumnElement[str]:
    """Each view's line of an NDJSON export: `StoredView.json` and a line end."""
    parts: list[ColumnElement[str] | str] = []
    for name in live:  # the name of a field: nothing to escape
        parts += [f',"{name}":', func.coalesce(cast(RecordView.live[name], Text), "null")]
    kind, record_id = RecordView.kind.expression, RecordView.record_id.expression
    accessed = citer.accessed.isoformat()
    link = permalink_of(literal(citer.base_url, Text), kind, record_id)
    text = citation_text(RecordView.cite.expression, kind, record_id, link, literal(accessed))
    parts += [',"cite_as":{"permalink":', _json_string(link), ',"text":', _json_string(text)]
    parts += [f',"accessed":"{accessed}"}}}}\n']
    return _joined(RecordView.body.expression, *parts)
