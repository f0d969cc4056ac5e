"""Keyset pagination with signed, opaque cursors.

A page is read as `WHERE (sort_key, id) > (last_sort_key, last_id) ORDER BY sort_key, id
LIMIT n + 1`: a row-value comparison that an index on (sort_key, id) answers directly, so page
1,000 costs what page 1 costs, and rows inserted while a client walks the pages never make it
see a row twice or miss one. Sort keys are non-null expressions (see `undated_last`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.kit.errors import ProblemError

T = TypeVar("T")
SortExpression = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class SortKey:
    """One sort a list endpoint allows: the SQL key in each direction and how to read the key
    back from a cursor."""

    ascending: SortExpression
    parse: Callable[[Any], Any]
    descending: SortExpression | None = None

    def expression(self, descending: bool) -> SortExpression:
        if descending and self.descending is not None:
            return self.descending
        return self.ascending


def parse_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value


def parse_date(value: Any) -> date:
    return date.fromisoformat(parse_text(value))


def parse_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(parse_text(value))


def parse_decimal(value: Any) -> Decimal:
    return Decimal(parse_text(value))


def _to_json(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class PageInfo(BaseModel):
    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class PageLinks(BaseModel):
    self: str
    next: str | None


class Page(BaseModel, Generic[T]):
    data: list[T]
    page: PageInfo
    links: PageLinks


@dataclass
class Cursors:
    """Signs and reads cursors bound to one endpoint's sort and filters."""

    secret: str

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self.secret.encode(), payload, hashlib.sha256).hexdigest()[:24]

    def encode(self, fingerprint: str, sort_value: Any, last_id: str) -> str:
        payload = json.dumps(
            {"f": fingerprint, "k": [_to_json(sort_value), last_id]}, separators=(",", ":")
        ).encode()
        token = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{token}.{self._sign(payload)}"

    def decode(self, cursor: str, fingerprint: str, key: SortKey) -> tuple[Any, str]:
        token, _, signature = cursor.partition(".")
        try:
            payload = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise _invalid_cursor("it is not a cursor this API issued") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise _invalid_cursor("it is not a cursor this API issued")
        data = json.loads(payload)
        if data.get("f") != fingerprint:
            raise _invalid_cursor("it was issued for another sort or other filters")
        try:
            sort_value, last_id = data["k"]
            return key.parse(sort_value), parse_text(last_id)
        except (KeyError, TypeError, ValueError):
            raise _invalid_cursor("it is not a cursor this API issued") from None


def _invalid_cursor(reason: str) -> ProblemError:
    return ProblemError(
        400,
        "invalid-cursor",
        f"The cursor cannot be used here: {reason}. "
        "Start again without a cursor, or follow the `next` link as given.",
    )


def fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Window(Generic[T]):
    rows: list[T]
    next_cursor: str | None


async def fetch_page(
    session: AsyncSession,
    statement: Select[Any],
    *,
    id_column: InstrumentedAttribute[str],
    key: SortKey,
    descending: bool,
    limit: int,
    cursor: str | None,
    fingerprint_fields: dict[str, Any],
    cursors: Cursors,
) -> Window[Any]:
    """Run `statement` (selecting one entity) for one page after `cursor`."""
    sort_expression = key.expression(descending)
    bound = fingerprint(fingerprint_fields)
    if cursor:  # an empty cursor is the first page, as if none were given
        last_value, last_id = cursors.decode(cursor, bound, key)
        row_key = tuple_(sort_expression, id_column)
        after = tuple_(last_value, last_id)
        statement = statement.where(row_key < after if descending else row_key > after)
    order = (
        (sort_expression.desc(), id_column.desc())
        if descending
        else (sort_expression.asc(), id_column.asc())
    )
    statement = statement.add_columns(sort_expression).order_by(*order).limit(limit + 1)
    results = (await session.execute(statement)).all()
    rows = [result[0] for result in results[:limit]]
    next_cursor = None
    if len(results) > limit:
        last = results[limit - 1]
        next_cursor = cursors.encode(bound, last[-1], last[0].id)
    return Window(rows, next_cursor)


def page_envelope(
    request: Request, response: Response, window: Window[Any], data: list[Any], limit: int
) -> dict[str, Any]:
    """The list envelope, with the next page also in an RFC 8288 Link header."""
    self_url = str(request.url)
    next_url = None
    if window.next_cursor is not None:
        next_url = str(request.url.include_query_params(cursor=window.next_cursor))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return {
        "data": data,
        "page": {"limit": limit, "next_cursor": window.next_cursor},
        "links": {"self": self_url, "next": next_url},
    }
