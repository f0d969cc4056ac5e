"""The one path every list endpoint takes from query parameters to a page of rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.kit.pagination import Cursors, SortKey, Window, fetch_page
from app.kit.params import ListQuery


async def list_page(
    session: AsyncSession,
    statement: Select[Any],
    *,
    id_column: InstrumentedAttribute[str],
    updated_at: InstrumentedAttribute[Any],
    sort_keys: Mapping[str, SortKey],
    sort: str,
    query: ListQuery,
    cursors: Cursors,
) -> Window[Any]:
    if query.updated_since is not None:
        statement = statement.where(updated_at >= query.updated_since)
    descending = sort.startswith("-")
    return await fetch_page(
        session,
        statement,
        id_column=id_column,
        key=sort_keys[sort.removeprefix("-")],
        descending=descending,
        limit=query.limit,
        cursor=query.cursor,
        fingerprint_fields=query.fingerprint_fields(),
        cursors=cursors,
    )


def any_of(column: Any, values: list[Any] | None) -> Any | None:
    """`column IN values` for a repeated filter, or None when the filter is absent."""
    if not values:
        return None
    return column.in_(values)
