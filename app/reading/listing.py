"""The reads every domain makes the same way: one record by id, a filtered page of records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Text, any_, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.base import ExecutableOption

from app.auth.scopes import Principal
from app.db.base import EvidenceRecord, PublicRecord
from app.kit.errors import not_found
from app.kit.facets import Counted, Facet, FacetGroup
from app.kit.pagination import Cursors, SortKey, Window, fetch_page, in_order
from app.kit.params import ListQuery
from app.kit.schemas import PLURAL, RecordStatus, is_slug
from app.search.query import SearchTerms, matching_ids
from app.views import counts
from app.views.models import RecordView
from app.views.serving import VIEW_COLUMNS, ViewColumn, of_tier

R = TypeVar("R", bound=PublicRecord)
# A list's `q` matching at most this many records is applied as their ids; more are matched
# by a semi-join, which the planner can walk in the list's order.
FEW_MATCHES = 500
Q = TypeVar("Q", bound=ListQuery)
# A list's filters as SQL conditions, from its query and the client (None: no condition).
Conditions = Callable[[Q, Principal], Iterable[ColumnElement[bool] | None]]


@dataclass(frozen=True)
class Records(Generic[R]):
    """How one kind of record is read: what loads with it and how its lists sort."""

    model: type[R]
    kind: str
    sort_keys: Mapping[str, SortKey]
    loads: tuple[ExecutableOption, ...] = ()
    facets: Mapping[str, Facet] = field(default_factory=dict)
    # Fields counted together, beside the facets: the statistics' groups.
    groupings: Mapping[str, Counted] = field(default_factory=dict)
    # Served from stored views, with counts kept (the record kinds), or as rows (the audit
    # trail).
    stored: bool = True
    # The records a client may learn exist (None: every record). A page of stored views
    # needs no such condition: a record hidden from a tier has no view of it to join.
    visible: Callable[[Principal], ColumnElement[bool] | None] | None = None

    @property
    def counted(self) -> dict[str, Counted]:
        """What the counts kept per tier group the records by (see `app.views.counts`)."""
        return {name: facet.counted for name, facet in self.facets.items()} | dict(self.groupings)

    def _counts_kept(self, query: ListQuery) -> bool:
        return self.stored and query.unfiltered()

    def select(self) -> Select[R]:
        return select(self.model).options(*self.loads)

    def select_views(self, tier: str, columns: Sequence[ViewColumn] = VIEW_COLUMNS) -> Select[Any]:
        """The stored views of the records, as `tier` is shown them (`columns` of them)."""
        return (
            select(*columns)
            .select_from(self.model)
            .join(RecordView, of_tier(self.model.id, PLURAL[self.kind], tier))
        )

    async def get_view(self, session: AsyncSession, record_id: str, tier: str) -> Row[Any]:
        """The record's stored view for `tier`, or a 404 problem: also when the tier may not
        learn it exists (it has no view), exactly like a missing record."""
        if not is_slug(record_id):
            raise not_found(self.kind, record_id)
        statement = select(*VIEW_COLUMNS).where(
            of_tier(literal(record_id), PLURAL[self.kind], tier)
        )
        row = (await session.execute(statement)).first()
        if row is None:
            raise not_found(self.kind, record_id)
        return row

    async def get_views(
        self, session: AsyncSession, ids: Sequence[str], tier: str
    ) -> list[Row[Any]]:
        """The stored views of these records for `tier`, in the order of `ids`; the ones the
        tier may not see are left out."""
        statement = select(*VIEW_COLUMNS).where(
            RecordView.kind == PLURAL[self.kind],
            RecordView.tier == tier,
            one_of(RecordView.record_id, ids),
        )
        found = {row.record_id: row for row in await session.execute(statement)}
        return [found[record_id] for record_id in ids if record_id in found]

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
        conditions: Conditions[Q],
        query: Q,
        sort: str,
        cursors: Cursors,
        principal: Principal,
    ) -> Window[Any]:
        """One page of the records meeting every condition `conditions(query, principal)`
        gives (None stands for no condition), with the facets the query asks for.

        Cursors are bound to the client's disclosure tier as well as to sort and filters.
        """
        matched = await self.matched(session, query, principal)
        filters = conditions(query, principal)
        where = self.where(filters, query, principal, matched, joins_views=self.stored)
        statement = self.select_views(principal.tier) if self.stored else self.select()
        window = await fetch_page(
            session,
            statement.where(*where),
            limit=query.limit,
            cursors=cursors,
            **self._keyset(query, sort, principal),
        )
        if query.count:
            over_records = self.where(filters, query, principal, matched)
            window.total = await self.total(session, over_records, query, principal)
        asked: list[str] = list(getattr(query, "facet", []))
        if asked:
            window.facets = {
                name: await self.facet(session, conditions, query, principal, name, matched)
                for name in asked
            }
        return window

    async def ordered(
        self,
        session: AsyncSession,
        conditions: Conditions[Q],
        query: Q,
        sort: str,
        cursors: Cursors,
        principal: Principal,
        columns: Sequence[ViewColumn],
    ) -> Select[Any]:
        """`columns` of the stored views of every record the list matches from its cursor
        on, in its order, then the sort key and the id: the rows its pages are cut from (see
        `page`), for reading them all at once (an export)."""
        matched = await self.matched(session, query, principal)
        filters = conditions(query, principal)
        where = self.where(filters, query, principal, matched, joins_views=True)
        statement = self.select_views(principal.tier, columns).where(*where)
        return in_order(statement, cursors=cursors, **self._keyset(query, sort, principal))

    def _keyset(self, query: ListQuery, sort: str, principal: Principal) -> dict[str, Any]:
        """How the list's pages follow one another (see `fetch_page`)."""
        return {
            "id_column": self.model.id,
            "key": self.sort_keys[sort.removeprefix("-")],
            "descending": sort.startswith("-"),
            "cursor": query.cursor,
            "fingerprint_fields": query.fingerprint_fields() | {"tier": principal.tier},
        }

    async def matched(
        self, session: AsyncSession, query: ListQuery, principal: Principal
    ) -> list[str] | None:
        """The ids of the records the list's `q` matches, when there are few of them (at
        most FEW_MATCHES); None when there are more, or no `q`. Looked up first, they spare
        the planner a semi-join it would answer by reading every record of the kind."""
        search = getattr(query, "q", None)
        if not search:
            return None
        statement = matching_ids(PLURAL[self.kind], SearchTerms(search), principal.tier)
        ids = list(await session.scalars(statement.limit(FEW_MATCHES + 1)))
        return ids if len(ids) <= FEW_MATCHES else None

    async def facet(
        self,
        session: AsyncSession,
        conditions: Conditions[Q],
        query: Q,
        principal: Principal,
        name: str,
        matched: list[str] | None = None,
    ) -> list[FacetGroup]:
        """Groups of the records matching every filter but the facet's own (so a client
        sees the other values it could pick too): read from the counts kept per tier when
        no other filter is set, counted over the matching records otherwise; `matched` as
        `where` takes it."""
        if name in type(query).model_fields:
            default = type(query).model_fields[name].get_default(call_default_factory=True)
            query = query.model_copy(update={name: default})
        facet = self.facets[name]
        if self._counts_kept(query):
            statement = counts.groups_statement(
                principal.tier,
                ((PLURAL[self.kind], name),),
                named_by=facet.named_by,
                include_retracted=query.include_retracted,
            )
            rows = self.typed_groups(name, await session.execute(statement))
        else:
            where = self.where(conditions(query, principal), query, principal, matched)
            rows = list(await session.execute(facet.statement(self.model, where)))
        return facet.groups(rows)

    async def total(
        self,
        session: AsyncSession,
        where: list[ColumnElement[bool]],
        query: ListQuery,
        principal: Principal,
    ) -> int:
        """How many records meet `where`, the conditions of `query` for this client."""
        if self._counts_kept(query):
            kept = counts.groups_statement(
                principal.tier,
                ((PLURAL[self.kind], counts.TOTAL),),
                include_retracted=query.include_retracted,
            )
            return sum(count for *_group, count in await session.execute(kept))
        counting = select(func.count()).select_from(self.model).where(*where)
        return await session.scalar(counting) or 0

    def typed_groups(self, name: str, kept: Iterable[Any]) -> list[tuple[Any, ...]]:
        """Rows of the counts kept of a facet or of one of the `groupings` (see
        `counts.groups_statement`) as the facet's statement gives them: the group's values as
        its fields give them, its label and its count."""
        typed = self.counted[name].typed
        return [(*typed(values), label, count) for _kind, _facet, values, label, count in kept]

    def where(
        self,
        conditions: Iterable[ColumnElement[bool] | None],
        query: ListQuery,
        principal: Principal,
        matched: list[str] | None = None,
        *,
        joins_views: bool = False,
    ) -> list[ColumnElement[bool]]:
        """The conditions of a list; `matched`: the ids its `q` matches, when they were
        looked up (see `matched`); `joins_views`: the statement joins the client's stored
        views, which keep out what it may not learn exists."""
        where = [c for c in conditions if c is not None]
        if self.visible is not None and not joins_views:
            visible = self.visible(principal)
            if visible is not None:
                where.append(visible)
        if issubclass(self.model, EvidenceRecord) and not query.include_retracted:
            where.append(self.model.status != RecordStatus.retracted)
        if query.updated_since is not None:
            where.append(self.model.updated_at >= query.updated_since)
        search = getattr(query, "q", None)
        if search and matched is not None:
            where.append(one_of(self.model.id, matched))
        elif search:
            matching = matching_ids(PLURAL[self.kind], SearchTerms(search), principal.tier)
            where.append(self.model.id.in_(matching))
        return where


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


def held(session: AsyncSession, model: type[R], ids: Iterable[str], *loaded: str) -> dict[str, R]:
    """The rows of these ids that the session holds already, with the attributes `loaded`
    loaded: a query would answer with these very objects, as they are, so it can be spared
    (a row in the session exists: records are never deleted)."""
    found: dict[str, R] = {}
    identities = session.sync_session.identity_map
    for record_id in ids:
        row = identities.get(identity_key(model, record_id))
        if (
            isinstance(row, model)
            and object_session(row) is session.sync_session
            and all(name in row.__dict__ for name in loaded)
        ):
            found[record_id] = row
    return found
