"""Serving stored views: a page is one query over the views of the client's tier, and the
answer is the stored bodies with the request's own parts appended, never re-rendered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, literal
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
# What a page reads of each view.
VIEW_COLUMNS = (
    RecordView.kind,
    RecordView.record_id,
    RecordView.version,
    RecordView.body,
    RecordView.cite,
    RecordView.live,
    RecordView.disclosed,
)


def of_tier(record_id: Any, kind: str, tier: str) -> ColumnElement[bool]:
    """Joins a record's table to its view for `tier`: a record without one is hidden from
    the tier, so the join is also the visibility rule."""
    return and_(
        RecordView.kind == literal(kind),
        RecordView.record_id == record_id,
        RecordView.tier == literal(tier),
    )


def _compact(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is int:  # the common figure: spared the encoder
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
        # Live figures are named by field names (identifiers): no escaping needed.
        live = "".join(f',"{name}":{_compact(value)}' for name, value in row.live.items())
        cite = self.citer.cite_json(row.kind, row.record_id, row.cite)
        return f'{row.body}{live},"cite_as":{cite}}}'

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
    content = f"{row.body}\x00{json.dumps(row.live, sort_keys=True)}\x00{row.cite}"
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
