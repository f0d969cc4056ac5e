"""The reads every domain makes the same way: one record by id, a filtered page of records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ExecutableOption

from app.db.base import EvidenceRecord, PublicRecord
from app.kit.errors import not_found
from app.kit.pagination import Cursors, SortKey, Window, fetch_page
from app.kit.params import ListQuery
from app.kit.schemas import RecordStatus, is_slug

R = TypeVar("R", bound=PublicRecord)


@dataclass(frozen=True)
class Records(Generic[R]):
    """How one kind of record is read: what loads with it and how its lists sort."""

    model: type[R]
    kind: str
    sort_keys: Mapping[str, SortKey]
    loads: tuple[ExecutableOption, ...] = ()

    def select(self) -> Select[R]:
        return select(self.model).options(*self.loads)

    async def get(
        self,
        session: AsyncSession,
        record_id: str,
        *conditions: ColumnElement[bool] | None,
        fresh: bool = False,
    ) -> R:
        """The record, or a 404 problem; also when a condition (such as being visible to the
        client) fails, so that a hidden record answers exactly like a missing one."""
        if not is_slug(record_id):  # cannot exist; spares the database odd input
            raise not_found(self.kind, record_id)
        where = [c for c in conditions if c is not None]
        statement = self.select().where(self.model.id == record_id, *where)
        if fresh:  # after a write in this session: reload what the write changed
            statement = statement.execution_options(populate_existing=True)
        record = await session.scalar(statement)
        if record is None:
            raise not_found(self.kind, record_id)
        return record

    async def page(
        self,
        session: AsyncSession,
        conditions: Iterable[ColumnElement[bool] | None],
        query: ListQuery,
        sort: str,
        cursors: Cursors,
        tier: str,
    ) -> Window[R]:
        """One page of the records meeting every condition (None stands for no condition).

        Cursors are bound to the client's disclosure `tier` as well as to sort and filters.
        """
        where = [c for c in conditions if c is not None]
        if issubclass(self.model, EvidenceRecord) and not query.include_retracted:
            where.append(self.model.status != RecordStatus.retracted)
        if query.updated_since is not None:
            where.append(self.model.updated_at >= query.updated_since)
        window = await fetch_page(
            session,
            self.select().where(*where),
            id_column=self.model.id,
            key=self.sort_keys[sort.removeprefix("-")],
            descending=sort.startswith("-"),
            limit=query.limit,
            cursor=query.cursor,
            fingerprint_fields=query.fingerprint_fields() | {"tier": tier},
            cursors=cursors,
        )
        if query.count:
            counting = select(func.count()).select_from(self.model).where(*where)
            window.total = await session.scalar(counting)
        return window


def any_of(column: Any, values: list[Any]) -> ColumnElement[bool] | None:
    """`column IN values` for a repeated filter, or None when the filter is absent."""
    if not values:
        return None
    condition: ColumnElement[bool] = column.in_(values)
    return condition


def one_of(column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """`column = ANY(array)`: one parameter however many values (IN would need one each,
    and PostgreSQL takes at most 32,767)."""
    condition: ColumnElement[bool] = column == any_(
        bindparam(None, list(values), type_=ARRAY(Text))
    )
    return condition
