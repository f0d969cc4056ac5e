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

from app.claims.figures import count_one_more, counting, refresh_figures
from app.claims.models import Claim
from app.db.bulk import arrays, unnested
from app.facilities.models import Facility, FacilityAlias, FacilityMention
from app.kit.collector import collector_paused
from app.kit.progress import Progress
from app.kit.schemas import RecordStatus
from app.organizations.models import Organization
from app.reading.listing import one_of
from app.search.documents import INDEXED, Indexed, document_rows
from app.search_index.models import SearchDocument
from app.search_index.query import TEXT_SEARCH_CONFIG
from app.sources.models import Source, SourceRelay
from app.testimonies.models import Testimony, TestimonyExcerpt, testimony_facilities
from app.views import counts
from app.views.models import RecordView, view_counts
from app.views.rendering import render, view_row

_PENDING = "search_pending"
_SOURCE_LEVELS = "search_source_levels"  # sources whose protection level changed
_CHANGED = "search_changed"  # records whose own row changed
_CLAIM_EARLIER = "search_claim_earlier"  # (fact, facility) of claims before they changed
_INSERTED_CLAIMS = "search_inserted_claims"  # claims created since the last rendering
_RECORDS = (Organization, Source, Facility, Testimony, Claim)
_BATCH = 2000
_GIN_INDEXES = [
    index.name
    for index in SearchDocument.__table__.indexes  # type: ignore[attr-defined]
    if index.dialect_options["postgresql"]["using"] == "gin"
]


def _touched(instance: object) -> tuple[str, str] | None:
    """The (kind, id) whose documents a changed object affects."""
    match instance:
        case Organization(id=record_id):
            return "organizations", record_id
        case Source(id=record_id):
            return "sources", record_id
        case Facility(id=record_id):
            return "facilities", record_id
        case FacilityAlias(facility_id=record_id) | FacilityMention(facility_id=record_id):
            return "facilities", record_id
        case Testimony(id=record_id):
            return "testimonies", record_id
        case TestimonyExcerpt(testimony_id=record_id):
            return "testimonies", record_id
        case Claim(id=record_id):
            return "claims", record_id
    return None


def _pending(session: Session) -> set[tuple[str, str]]:
    pending: set[tuple[str, str]] = session.info.setdefault(_PENDING, set())
    return pending


def _note_touched_record(_mapper: Mapper[Any], _connection: Connection, target: object) -> None:
    # Per flushed row, not per flush: scanning the session's dirty set on every flush costs
    # quadratic time in a large import.
    touched = _touched(target)
    session = object_session(target)
    if touched is not None and touched[1] is not None and session is not None:
        _pending(session).add(touched)


for _model in (*_RECORDS, FacilityAlias, FacilityMention, TestimonyExcerpt):
    for _event in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _event, _note_touched_record)


def _note_changed_record(_mapper: Mapper[Any], _connection: Connection, target: object) -> None:
    # The record's own row: what other records' views show of it may have changed.
    touched = _touched(target)
    session = object_session(target)
    if touched is not None and session is not None:
        session.info.setdefault(_CHANGED, set()).add(touched)


for _record in _RECORDS:
    event.listen(_record, "after_update", _note_changed_record)


def _note_claim_earlier(_mapper: Mapper[Any], _connection: Connection, target: Claim) -> None:
    # The fact and facility a claim counted towards before this change.
    session = object_session(target)
    if session is None:
        return
    state = inspect(target).attrs
    fact = state.fact.history.deleted
    facility = state.about_facility_id.history.deleted
    if fact or facility:
        earlier = session.info.setdefault(_CLAIM_EARLIER, set())
        earlier.add((fact[0] if fact else None, facility[0] if facility else None))


event.listen(Claim, "after_update", _note_claim_earlier)


def _note_inserted_claim(_mapper: Mapper[Any], _connection: Connection, target: Claim) -> None:
    session = object_session(target)
    if session is not None:
        session.info.setdefault(_INSERTED_CLAIMS, set()).add(target.id)


event.listen(Claim, "after_insert", _note_inserted_claim)


def _note_source_level(_mapper: Mapper[Any], _connection: Connection, target: Source) -> None:
    session = object_session(target)
    if session is not None and inspect(target).attrs.protection_level.history.has_changes():
        session.info.setdefault(_SOURCE_LEVELS, set()).add(target.id)


event.listen(Source, "after_update", _note_source_level)

# Which records show something of which: (shown kind, table, its column naming that record,
# the kind of record the row belongs to, the column naming it).
_REFERENCES = tuple(
    (referred, table.__table__ if hasattr(table, "__table__") else table, column, owner, key)
    for referred, table, column, owner, key in (
        ("organizations", Source, "publisher_id", "sources", "id"),
        ("organizations", Facility, "operator_id", "facilities", "id"),
        ("organizations", Claim, "claimant_organization_id", "claims", "id"),
        ("organizations", Claim, "about_organization_id", "claims", "id"),
        ("sources", Claim, "source_id", "claims", "id"),
        ("sources", Claim, "relayed_from_id", "claims", "id"),
        ("sources", FacilityMention, "source_id", "facilities", "facility_id"),
        ("sources", FacilityMention, "relayed_from_id", "facilities", "facility_id"),
        ("sources", TestimonyExcerpt, "source_id", "testimonies", "testimony_id"),
        ("sources", TestimonyExcerpt, "relayed_from_id", "testimonies", "testimony_id"),
        ("sources", SourceRelay, "relayed_source_id", "sources", "relaying_source_id"),
        ("sources", SourceRelay, "relaying_source_id", "sources", "relayed_source_id"),
        ("testimonies", Claim, "about_testimony_id", "claims", "id"),
        ("testimonies", Claim, "claimant_testimony_id", "claims", "id"),
        ("facilities", Claim, "about_facility_id", "claims", "id"),
        ("facilities", testimony_facilities, "facility_id", "testimonies", "testimony_id"),
    )
)

# The records whose quotes overlap a protected passage of the given testimonies and claims,
# or come from (or report) the given sources.
_QUOTING_PROTECTED = text(
    """
    WITH spans AS (
        SELECT e.source_id, e.char_start, e.char_end
        FROM testimony_excerpts AS e JOIN testimonies AS t ON t.id = e.testimony_id
        WHERE e.testimony_id = ANY(:testimonies) AND e.char_start IS NOT NULL
          AND (e.protection_level <> 'public' OR t.protection_level <> 'public')
        UNION ALL
        SELECT c.source_id, c.char_start, c.char_end
        FROM claims AS c
        WHERE c.id = ANY(:claims) AND c.char_start IS NOT NULL
          AND (c.protection_level <> 'public' OR c.claimant_level <> 'public' OR EXISTS (
              SELECT FROM testimonies AS t
              WHERE t.id IN (c.claimant_testimony_id, c.about_testimony_id)
                AND t.protection_level <> 'public'))
    )
    """
    + "    UNION\n".join(
        f"""
    SELECT '{kind}', q.{owner} FROM {table} AS q JOIN spans AS s
      ON q.source_id = s.source_id AND q.char_start < s.char_end AND s.char_start < q.char_end
    UNION
    SELECT '{kind}', {owner} FROM {table}
    WHERE source_id = ANY(:sources) OR relayed_from_id = ANY(:sources)
"""
        for kind, table, owner in (
            ("claims", "claims", "id"),
            ("facilities", "facility_mentions", "facility_id"),
            ("testimonies", "testimony_excerpts", "testimony_id"),
        )
    )
)


@event.listens_for(Session, "before_commit")
def _refuse_unindexed_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        raise RuntimeError("records were written without updating their search documents")
    if counts.unapplied(session):
        raise RuntimeError("views were rendered without applying their counts")


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
    for name in (_SOURCE_LEVELS, _CHANGED, _CLAIM_EARLIER, _INSERTED_CLAIMS):
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
    earlier = info.pop(_CLAIM_EARLIER, set())
    inserted = info.pop(_INSERTED_CLAIMS, set())
    by_kind: dict[str, set[str]] = {}
    for kind, record_id in pending:
        by_kind.setdefault(kind, set()).add(record_id)
    written_claims = set(by_kind.get("claims", ()))
    for kind, record_id in await _showing(session, changed):
        by_kind.setdefault(kind, set()).add(record_id)
    # A quote is served at the level of its source and of protected records quoting the
    # same passage: records quoting a protected passage, or a source whose level changed,
    # are shown differently now.
    quoting = {
        "testimonies": sorted(by_kind.get("testimonies", ())),
        "claims": sorted(by_kind.get("claims", ())),
        "sources": sorted(info.pop(_SOURCE_LEVELS, set())),
    }
    if any(quoting.values()):
        for kind, record_id in await session.execute(_QUOTING_PROTECTED, quoting):
            by_kind.setdefault(kind, set()).add(record_id)
    # A facility's independent sources count the claims about it: as they were and are.
    claims = sorted(by_kind.get("claims", ()))
    facilities = {facility for _fact, facility in earlier if facility}
    if claims:
        about = select(Claim.about_facility_id).where(
            one_of(Claim.id, claims), Claim.about_facility_id.is_not(None)
        )
        facilities.update(await session.scalars(about))
    by_kind.setdefault("facilities", set()).update(facilities)
    async with counting(session):  # the claims' groups read once, for every tier
        for kind, ids in by_kind.items():
            if ids:
                await reindex(session, kind, sorted(ids), progress)
        await _refresh_figures(session, written_claims, inserted, changed, earlier)
    info.pop(_PENDING, None)  # the views' own flushes touch nothing


async def _refresh_figures(
    session: AsyncSession,
    written: set[str],
    inserted: set[str],
    changed: set[tuple[str, str]],
    earlier: set[tuple[str | None, str | None]],
) -> None:
    """Claims' independent sources count the claims agreeing with them, and the claimant and
    sources of each: a written claim changes its group's figures, and so do a testimony or a
    source whose level or relays changed. One new claim adds to the figures it meets; any
    other change recounts the groups of the facts it touches."""
    origins = {(kind, i) for kind, i in changed if kind in ("testimonies", "sources")}
    # A claim created since the last rendering and changed again counts as created.
    updated = {i for kind, i in changed if kind == "claims"} - inserted
    if len(written) == 1 and written <= inserted and not (updated or origins or earlier):
        (claim_id,) = written
        await count_one_more(session, claim_id)
        return
    affected = set(written)
    for kind, claim_id in await _referring(session, _by_kind(origins)):
        if kind == "claims":
            affected.add(claim_id)
    facts = {fact for fact, _facility in earlier if fact}
    if affected:
        statement = select(Claim.fact).where(one_of(Claim.id, sorted(affected)))
        facts.update(fact for fact in await session.scalars(statement) if fact)
    await refresh_figures(session, sorted(facts))


def _by_kind(records: Collection[tuple[str, str]]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for kind, record_id in records:
        ids.setdefault(kind, set()).add(record_id)
    return ids


async def _showing(
    session: AsyncSession, changed: Collection[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The records whose views show something of these changed records (a name, a title, a
    level): those referring to them, and those citing a source whose publisher changed."""
    ids = _by_kind(changed)
    found = await _referring(session, ids)
    publishers = {s for kind, s in found if kind == "sources"} - ids.get("sources", set())
    if publishers:
        found += await _referring(session, {"sources": publishers})
    return found


async def _referring(session: AsyncSession, ids: dict[str, set[str]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for referred, table, column, owner, owner_column in _REFERENCES:
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
    model = INDEXED[kind].model
    ids = list(await session.scalars(select(model.id)))
    async with counting(session, every_claim=kind == "claims"):
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
    for kind, indexed in INDEXED.items():
        ids = list(
            await session.scalars(
                select(indexed.model.id).order_by(*([Claim.source_id] if kind == "claims" else []))
            )
        )
        async with counting(session, every_claim=kind == "claims"):
            written += await _render(session, kind, ids, progress)
    await _merge_pending_lists(session)
    await counts.apply(session)
    return written


async def _merge_pending_lists(session: AsyncSession) -> None:
    # So many rows wait in the GIN indexes' pending lists, which every search reads through
    # until a vacuum empties them: merged into the indexes now, in one pass.
    for index in _GIN_INDEXES:
        await session.execute(select(func.gin_clean_pending_list(literal(index).cast(REGCLASS))))


async def index_missing(session: AsyncSession, progress: Progress | None = None) -> int:
    """Render the records that have no stored view or no search document at all, or views
    not yet counted or without their CSV line: a database written before those existed, or
    restored from a dump without them, or rows put in by SQL. Returns how many records."""
    count = 0
    for kind, indexed in INDEXED.items():
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
            async with counting(session, every_claim=kind == "claims" and len(missing) > _BATCH):
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
