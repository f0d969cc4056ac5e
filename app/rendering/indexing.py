"""Keeping stored views, their counts and search documents in step with the records, in the
transaction that writes them.

Every flushed row notes which record it belongs to (a facility's alias or mention counts as the
facility, an excerpt as its testimony); before the transaction commits, `index_pending`
rebuilds their views and documents and applies what that changed in the counts. A commit with
records left unindexed, or counts left unapplied, is refused, so no write path can forget it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from functools import cache, partial
from typing import Any, cast

from sqlalchemy import (
    Table,
    Text,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, object_session
from sqlalchemy.sql.elements import TextClause

from app.db.bulk import arrays, unnested
from app.kit.collector import collector_paused
from app.kit.progress import Progress
from app.kit.schemas import RecordStatus
from app.reading.listing import one_of
from app.rendering.documents import INDEXED, Indexed, document_rows, rendered_kinds
from app.search.models import SearchDocument
from app.search.query import TEXT_SEARCH_CONFIG
from app.views import counts
from app.views.models import RecordView, view_counts
from app.views.rendering import render, view_row

_PENDING = "search_pending"
_QUOTED_LEVELS = "search_quoted_levels"  # records quoted from whose protection level changed
_CHANGED = "search_changed"  # records whose own row changed
_BATCH = 2000
_GIN_INDEXES = [
    index.name
    for index in SearchDocument.__table__.indexes  # type: ignore[attr-defined]
    if index.dialect_options["postgresql"]["using"] == "gin"
]


def _pending(session: Session) -> set[tuple[str, str]]:
    pending: set[tuple[str, str]] = session.info.setdefault(_PENDING, set())
    return pending


def _part_of(kind: str, attribute: str) -> Callable[[Mapper[Any], Connection, object], None]:
    def note_touched_record(_mapper: Mapper[Any], _connection: Connection, target: object) -> None:
        # Per flushed row, not per flush: scanning the session's dirty set on every flush
        # costs quadratic time in a large import.
        record_id = getattr(target, attribute)
        session = object_session(target)
        if record_id is not None and session is not None:
            _pending(session).add((kind, record_id))

    return note_touched_record


def _own_row_of(kind: str) -> Callable[[Mapper[Any], Connection, object], None]:
    def note_changed_record(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
        # The record's own row: what other records' views show of it may have changed.
        session = object_session(target)
        if session is not None:
            session.info.setdefault(_CHANGED, set()).add((kind, target.id))

    return note_changed_record


def _note_quoted_level(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    session = object_session(target)
    if session is not None and inspect(target).attrs.protection_level.history.has_changes():
        session.info.setdefault(_QUOTED_LEVELS, set()).add(target.id)


def declare(*kinds: Indexed) -> None:
    """Make these kinds known to the rendering of views and documents, and note, as rows are
    flushed, the records of these kinds they change (a facility's alias or mention changes
    the facility): `index_pending` renders them again."""
    for indexed in kinds:
        if indexed.kind in INDEXED:
            raise RuntimeError(f"{indexed.kind} is declared for rendering twice")
        INDEXED[indexed.kind] = indexed
        for model, attribute in indexed.parts:
            for name in ("after_insert", "after_update", "after_delete"):
                event.listen(model, name, _part_of(indexed.kind, attribute))
        event.listen(indexed.model, "after_update", _own_row_of(indexed.kind))
        if indexed.quoted:
            event.listen(indexed.model, "after_update", _note_quoted_level)


def _references() -> list[tuple[str, Table, str, str, str]]:
    """Which records show something of which: (shown kind, table, its column naming that
    record, the kind of record the row belongs to, the column naming it)."""
    return [
        (shows.referred, _table(shows.table), shows.column, indexed.kind, shows.owner)
        for indexed in rendered_kinds()
        for shows in indexed.shows
    ]


def _table(table: Any) -> Table:
    return cast(Table, table.__table__ if hasattr(table, "__table__") else table)


@cache
def _quoting_protected() -> TextClause:
    """The records whose quotes overlap a protected passage of the given records, or come
    from (or report) records quoted from whose level changed (`:quoted`)."""
    kinds = rendered_kinds()
    passages = [
        i.quotes.protected_passages for i in kinds if i.quotes and i.quotes.protected_passages
    ]
    quoting = "    UNION\n".join(
        f"""
    SELECT '{i.kind}', q.{i.quotes.owner} FROM {i.quotes.table} AS q JOIN spans AS s
      ON q.source_id = s.source_id AND q.char_start < s.char_end AND s.char_start < q.char_end
    UNION
    SELECT '{i.kind}', {i.quotes.owner} FROM {i.quotes.table}
    WHERE source_id = ANY(:quoted) OR relayed_from_id = ANY(:quoted)
"""
        for i in kinds
        if i.quotes
    )
    return text(f"WITH spans AS ({'    UNION ALL'.join(passages)})\n{quoting}")


@event.listens_for(Session, "before_commit")
def _refuse_unindexed_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        raise RuntimeError("records were written without updating their search documents")
    if counts.unapplied(session):
        raise RuntimeError("views were rendered without applying their counts")


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
    for name in (_QUOTED_LEVELS, _CHANGED):
        session.info.pop(name, None)
    counts.forget(session)


async def index_pending(session: AsyncSession, progress: Progress | None = None) -> None:
    """Render again the views and documents of every record written in this transaction so
    far, and of every record whose views show something of them; then apply to the counts
    what every rendering of the transaction changed."""
    await session.flush()  # whatever the last statements left unflushed
    pending = session.sync_session.info.pop(_PENDING, set())
    if pending:
        await _render_pending(session, pending, progress)
    await counts.apply(session)


async def _render_pending(
    session: AsyncSession, pending: set[tuple[str, str]], progress: Progress | None
) -> None:
    info = session.sync_session.info
    changed = info.pop(_CHANGED, set())
    figures = {i.kind: i.figures for i in rendered_kinds() if i.figures is not None}
    figure_changes = {kind: kept.changes(session) for kind, kept in figures.items()}
    by_kind = _by_kind(pending)
    written = {kind: set(ids) for kind, ids in by_kind.items()}
    for kind, record_id in await _showing(session, changed):
        by_kind.setdefault(kind, set()).add(record_id)
    # A quote is served at the level of its source and of protected records quoting the
    # same passage: records quoting a protected passage, or a source whose level changed,
    # are shown differently now.
    quoting = {
        i.kind: sorted(by_kind.get(i.kind, ()))
        for i in rendered_kinds()
        if i.quotes and i.quotes.protected_passages
    } | {"quoted": sorted(info.pop(_QUOTED_LEVELS, set()))}
    if any(quoting.values()):
        for kind, record_id in await session.execute(_quoting_protected(), quoting):
            by_kind.setdefault(kind, set()).add(record_id)
    for figures_kind, changes in figure_changes.items():
        shown = await changes.shown_in(session, by_kind, written.get(figures_kind, set()), changed)
        for kind, ids in shown.items():
            by_kind.setdefault(kind, set()).update(ids)
    async with AsyncExitStack() as stack:  # what figures count, read once for every tier
        for kept in figures.values():
            await stack.enter_async_context(kept.counting(session, every=False))
        for kind, ids in by_kind.items():
            if ids:
                await reindex(session, kind, sorted(ids), progress)
        referring = partial(_referring, session)
        for kind, changes in figure_changes.items():
            await changes.refresh(session, written.get(kind, set()), changed, referring)
    info.pop(_PENDING, None)  # the views' own flushes touch nothing


def _by_kind(records: Collection[tuple[str, str]]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for kind, record_id in records:
        ids.setdefault(kind, set()).add(record_id)
    return ids


async def _showing(
    session: AsyncSession, changed: Collection[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The records whose views show something of these changed records (a name, a title, a
    level): those referring to them, and those citing a record quoted from (a source) whose
    own references changed (its publisher)."""
    ids = _by_kind(changed)
    found = await _referring(session, ids)
    quoted = {i.kind for i in rendered_kinds() if i.quoted}
    for kind in quoted:
        shown = {r for k, r in found if k == kind} - ids.get(kind, set())
        if shown:
            found += await _referring(session, {kind: shown})
    return found


async def _referring(session: AsyncSession, ids: dict[str, set[str]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for referred, table, column, owner, owner_column in _references():
        if ids.get(referred):
            statement = select(table.c[owner_column]).where(
                one_of(table.c[column], sorted(ids[referred]))
            )
            found += [(owner, record_id) for record_id in await session.scalars(statement)]
    return found


async def reindex(
    session: AsyncSession, kind: str, ids: Iterable[str], progress: Progress | None = None
) -> int:
    """Render these records again: their stored views and search documents; returns how
    many documents. `progress` counts the records, batch by batch, under the stage
    `rendering {kind}`."""
    id_list = list(ids)
    for start in range(0, len(id_list), _BATCH):
        batch = id_list[start : start + _BATCH]
        await session.execute(
            delete(SearchDocument).where(
                SearchDocument.kind == kind, one_of(SearchDocument.record_id, batch)
            )
        )
        replaced = await session.execute(
            delete(RecordView)
            .where(RecordView.kind == kind, one_of(RecordView.record_id, batch))
            .returning(RecordView.tier, RecordView.counted)
        )
        counts.note(session, kind, [(tier, counted) for tier, counted in replaced], -1)
    return await _render(session, kind, id_list, progress)


async def _render(
    session: AsyncSession, kind: str, ids: Sequence[str], progress: Progress | None
) -> int:
    """Render these records, which have no views or documents left: write both, and note
    what the views count. Returns how many documents."""
    indexed = INDEXED[kind]
    with collector_paused() as between_batches:
        return await _render_batches(session, indexed, ids, progress, between_batches)


async def _render_batches(
    session: AsyncSession,
    indexed: Indexed,
    ids: Sequence[str],
    progress: Progress | None,
    between_batches: Callable[[], None],
) -> int:
    kind = indexed.kind
    written = 0
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        found = await session.execute(
            select(indexed.model, *counts.value_columns(indexed.counted))
            .options(*indexed.loads)
            .where(one_of(indexed.model.id, batch))
        )
        records, counted = [], {}
        for record, *values in found:
            records.append(record)
            retracted = record.status is RecordStatus.retracted
            counted[record.id] = counts.counted_of(indexed.counted, values, retracted)
        rendered = await render(session, kind, indexed.present, records)
        views = [
            view_row(kind, row.id, row.version, view, indexed.live, counted[row.id], indexed.schema)
            for row in records
            for view in rendered[row.id]
        ]
        if views:
            await session.execute(_INSERT_VIEWS, _view_arrays(views))
            counts.note(session, kind, ((view["tier"], view["counted"]) for view in views), 1)
        rows = document_rows(indexed, records, rendered)
        if rows:
            parameters = arrays(rows, _DOCUMENTS.c.keys())
            parameters["tiers"] = [",".join(row["tiers"]) for row in rows]
            await session.execute(_INSERT_DOCUMENTS, parameters)
            written += len(rows)
        if progress is not None:
            progress(f"rendering {kind}", start + len(batch), len(ids))
        between_batches()
    return written


async def reindex_all(session: AsyncSession, kind: str, progress: Progress | None = None) -> int:
    """Render every record of `kind` again."""
    indexed = INDEXED[kind]
    ids = list(await session.scalars(select(indexed.model.id)))
    async with _counting(session, indexed, every=True):
        written = await reindex(session, kind, ids, progress)
    await _merge_pending_lists(session)
    return written


async def rebuild_all(session: AsyncSession, progress: Progress | None = None) -> int:
    """Render every record again and count its views afresh; returns how many search
    documents. Every view, document and count is deleted first, in one statement each, and
    the counts are those of the views rendered."""
    counts.forget(session.sync_session)
    for table in (_DOCUMENT_TABLE, _VIEW_TABLE, view_counts):
        await session.execute(delete(table))
    written = 0
    for indexed in rendered_kinds():
        ids = list(await session.scalars(select(indexed.model.id).order_by(*indexed.order)))
        async with _counting(session, indexed, every=True):
            written += await _render(session, indexed.kind, ids, progress)
    await _merge_pending_lists(session)
    await counts.apply(session)
    return written


def _counting(
    session: AsyncSession, indexed: Indexed, every: bool
) -> AbstractAsyncContextManager[None]:
    """What the kind's figures count, read once while rendering (`every`: for all its
    records at once)."""
    if indexed.figures is None:
        return nullcontext()
    return indexed.figures.counting(session, every)


async def _merge_pending_lists(session: AsyncSession) -> None:
    # So many rows wait in the GIN indexes' pending lists, which every search reads through
    # until a vacuum empties them: merged into the indexes now, in one pass.
    for index in _GIN_INDEXES:
        await session.execute(select(func.gin_clean_pending_list(literal(index).cast(REGCLASS))))


async def index_missing(session: AsyncSession, progress: Progress | None = None) -> int:
    """Render the records that have no stored view or no search document at all, or views
    not yet counted, without their CSV line or without a live figure their kind keeps: a
    database written before those existed, or restored from a dump without them, or rows
    put in by SQL. Returns how many records."""
    count = 0
    for indexed in rendered_kinds():
        kind = indexed.kind
        view = select(RecordView.record_id).where(
            RecordView.kind == kind, RecordView.record_id == indexed.model.id
        )
        missing = list(
            await session.scalars(
                select(indexed.model.id).where(
                    or_(
                        ~view.exists(),
                        view.where(RecordView.counted.is_(None)).exists(),
                        view.where(RecordView.csv.is_(None)).exists(),
                        *(
                            view.where(~RecordView.live.has_key(name)).exists()
                            for name in indexed.live
                        ),
                        ~select(SearchDocument.id)
                        .where(
                            SearchDocument.kind == kind,
                            SearchDocument.record_id == indexed.model.id,
                        )
                        .exists(),
                    )
                )
            )
        )
        if missing:
            async with _counting(session, indexed, every=len(missing) > _BATCH):
                await reindex(session, kind, missing, progress)
            count += len(missing)
    return count


def _weighted(text: Any, weight: str) -> Any:
    vector = func.to_tsvector(TEXT_SEARCH_CONFIG, text)
    return func.setweight(vector, literal_column(f"'{weight}'"))


# A batch of views, and of documents (each with its tiers as one comma-separated text, and
# the text of each weight its vector is made of), as arrays of their columns.
_VIEW_TABLE = cast(Table, RecordView.__table__)
_DOCUMENT_TABLE = cast(Table, SearchDocument.__table__)
# Arrays do not nest: a view's CSV pieces (an array of texts) travel as the text of a JSON
# array (see `_view_arrays`), which the statement makes an array again, in order.
_VIEWS = unnested(
    {
        column.name: Text() if column.name == "csv" else column.type
        for column in _VIEW_TABLE.columns
    },
    "views",
)
_CSV_PIECES = literal_column(
    "(SELECT array_agg(piece.value ORDER BY piece.n) "
    "FROM jsonb_array_elements_text(views.csv::jsonb) WITH ORDINALITY AS piece(value, n))",
    ARRAY(Text()),
)
_INSERT_VIEWS = insert(_VIEW_TABLE).from_select(
    list(_VIEWS.c.keys()),
    select(*(_CSV_PIECES if c.key == "csv" else c for c in _VIEWS.c)),
)


def _view_arrays(views: list[dict[str, Any]]) -> dict[str, list[Any]]:
    sent = arrays(views, _VIEWS.c.keys())
    sent["csv"] = [None if pieces is None else json.dumps(pieces) for pieces in sent["csv"]]
    return sent


_DOCUMENT_COLUMNS = ("kind", "record_id", "ref", "retracted", "changed_at", "title", "names")
_DOCUMENTS = unnested(
    {name: _DOCUMENT_TABLE.c[name].type for name in (*_DOCUMENT_COLUMNS, "body")}
    | {name: Text() for name in ("tiers", "a", "b", "c", "d")},
    "documents",
)
_INSERT_DOCUMENTS = insert(_DOCUMENT_TABLE).from_select(
    [*_DOCUMENT_COLUMNS, "body", "tiers", "vector"],
    select(
        *(_DOCUMENTS.c[name] for name in (*_DOCUMENT_COLUMNS, "body")),
        func.string_to_array(_DOCUMENTS.c.tiers, ","),
        _weighted(_DOCUMENTS.c.a, "A")
        .op("||")(_weighted(_DOCUMENTS.c.b, "B"))
        .op("||")(_weighted(_DOCUMENTS.c.c, "C"))
        .op("||")(_weighted(_DOCUMENTS.c.d, "D")),
    ),
)
