"""Serving stored views: a page is one query over the views of the client's tier, and the
answer is the stored bodies with the request's own parts appended, never re-rendered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, Text, and_, func, literal, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import InstrumentedAttribute

from app.kit.citing import Citer
from app.kit.conditional import etag_of
from app.kit.pagination import Page, Window, page_envelope
from app.views.models import RecordView

if TYPE_CHECKING:
    from app.auth.dependencies import Viewer

M = TypeVar("M", bound=BaseModel)
JSON_MEDIA_TYPE = "application/json"

# A column of a query of stored views.
ViewColumn = ColumnElement[Any] | InstrumentedAttribute[Any]

# The live figures as the members of a JSON object (`,"name":value` each), put together by
# PostgreSQL: an integer or null's text there is Python's (see `app.views.lines.check_live`).
_FIGURE = func.jsonb_each(RecordView.live).table_valued("key", "value")
_FIGURES = (
    select(
        func.coalesce(
            func.string_agg(
                literal(',"', Text) + _FIGURE.c.key + '":' + _FIGURE.c.value.cast(Text),
                literal("", Text),
            ),
            "",
        )
    )
    .select_from(_FIGURE)
    .scalar_subquery()
)
# The stored body with the live figures: the record's JSON but for what the request supplies
# (its citation) and the closing brace.
SHOWN = (RecordView.body + _FIGURES).label("shown")
# What a page reads of each view.
VIEW_COLUMNS = (
    RecordView.kind,
    RecordView.record_id,
    RecordView.version,
    SHOWN,
    RecordView.cite,
    RecordView.disclosed,
)


def select_views() -> Select[Any]:
    """What is read of stored views (`VIEW_COLUMNS`); the caller says which."""
    return cast(Select[Any], select(*VIEW_COLUMNS))


def of_tier(record_id: Any, kind: str, tier: str) -> ColumnElement[bool]:
    """Joins a record's table to its view for `tier`: a record without one is hidden from
    the tier, so the join is also the visibility rule."""
    return and_(
        RecordView.kind == literal(kind),
        RecordView.record_id == record_id,
        RecordView.tier == literal(tier),
    )


@dataclass(frozen=True)
class StoredView(Generic[M]):
    """One stored view as served to one request."""

    row: Row[Any]
    citer: Citer
    schema: type[M]

    @property
    def record_id(self) -> str:
        record_id: str = self.row.record_id
        return record_id

    @cached_property
    def json(self) -> str:
        """The record's JSON, exactly what its typed model would serialise to."""
        row = self.row
        cite = self.citer.cite_json(row.kind, row.record_id, row.cite)
        return f'{row.shown},"cite_as":{cite}}}'

    @cached_property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.json)
        return data

    @cached_property
    def model(self) -> M:
        return self.schema.model_validate_json(self.json)


def view_etag(row: Row[Any], tier: str) -> str:
    """The ETag of a stored view: its record's version, the tier, and what is stored of it
    (the body, the live figures and the citation's description)."""
    content = f"{row.shown}\x00{row.cite}"
    return etag_of(row.version, tier, content)


def served(
    rows: Sequence[Row[Any]], schema: type[M], citer: Citer, viewer: Viewer
) -> list[StoredView[M]]:
    """The views as this client is served them; what they disclose is logged for the audit."""
    for row in rows:
        if row.disclosed:
            viewer.note_disclosed(row.disclosed)
    return [StoredView(row, citer, schema) for row in rows]


def json_response(response: Response, content: str) -> Response:
    """JSON text as the answer, with the status and headers the route set on `response`."""
    return Response(
        content,
        status_code=response.status_code or 200,
        headers=dict(response.headers),
        media_type=JSON_MEDIA_TYPE,
    )


class Serialised(Protocol):
    """An item of a page, already as its JSON."""

    @property
    def json(self) -> str: ...


def page_response(
    request: Request,
    response: Response,
    window: Window[Any],
    views: Sequence[Serialised],
    limit: int,
    page_schema: type[Page[Any]],
) -> Response:
    """The list envelope around the stored bodies (or other items as JSON), built as text:
    the envelope (without data) goes through its typed model, the items are spliced into
    its empty `data`."""
    envelope = page_schema.model_validate(page_envelope(request, response, window, [], limit))
    text = envelope.model_dump_json()
    empty = '{"data":[]'
    assert text.startswith(empty)  # `data` is the envelope's first field
    data = ",".join(view.json for view in views)
    return json_response(response, '{"data":[' + data + "]" + text[len(empty) :])
