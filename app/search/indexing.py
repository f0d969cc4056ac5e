"""Keeping search documents in step with the records, in the transaction that writes them.

Every flushed row notes which record it belongs to (a facility's alias or mention counts as the
facility, an excerpt as its testimony); before the transaction commits, `index_pending`
rebuilds their documents. A commit with records left unindexed is refused, so no write path
can forget it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import (
    bindparam,
    delete,
    event,
    func,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, object_session

from app.claims.models import Claim
from app.facilities.models import Facility, FacilityAlias, FacilityMention
from app.kit.listing import one_of
from app.kit.progress import Progress
from app.organizations.models import Organization
from app.search.documents import INDEXED, document_rows
from app.search.models import SearchDocument
from app.search.query import TEXT_SEARCH_CONFIG
from app.sources.models import Source
from app.testimonies.models import Testimony, TestimonyExcerpt

_PENDING = "search_pending"
_INSERTED = "search_inserted"  # records created since the last indexing: no documents yet
_SOURCE_LEVELS = "search_source_levels"  # sources whose protection level changed
_RECORDS = (Organization, Source, Facility, Testimony, Claim)
_BATCH = 2000


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


def _note_inserted_record(_mapper: Mapper[Any], _connection: Connection, target: object) -> None:
    touched = _touched(target)
    session = object_session(target)
    if touched is not None and session is not None:
        session.info.setdefault(_INSERTED, set()).add(touched)


for _record in _RECORDS:
    event.listen(_record, "after_insert", _note_inserted_record)

for _model in (*_RECORDS, FacilityAlias, FacilityMention, TestimonyExcerpt):
    for _event in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _event, _note_touched_record)


def _note_source_level(_mapper: Mapper[Any], _connection: Connection, target: Source) -> None:
    session = object_session(target)
    if session is not None and inspect(target).attrs.protection_level.history.has_changes():
        session.info.setdefault(_SOURCE_LEVELS, set()).add(target.id)


event.listen(Source, "after_update", _note_source_level)

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


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_INSERTED, None)
    session.info.pop(_SOURCE_LEVELS, None)


async def index_pending(session: AsyncSession, progress: Progress | None = None) -> None:
    """Rebuild the documents of every record written in this transaction so far."""
    pending = session.sync_session.info.get(_PENDING)
    if not pending:
        return
    await session.flush()  # whatever the last statements left unflushed
    pending = session.sync_session.info.pop(_PENDING, set())
    inserted = session.sync_session.info.pop(_INSERTED, set())
    by_kind: dict[str, set[str]] = {}
    for kind, record_id in pending:
        by_kind.setdefault(kind, set()).add(record_id)
    testimonies = by_kind.get("testimonies")
    if testimonies:
        # A claim is served at its testimonies' level too: their change may change its view.
        about = await session.scalars(
            select(Claim.id).where(
                or_(
                    Claim.about_testimony_id.in_(testimonies),
                    Claim.claimant_testimony_id.in_(testimonies),
                )
            )
        )
        by_kind.setdefault("claims", set()).update(about)
    # A quote is served at the level of its source and of protected records quoting the
    # same passage: records quoting a protected passage, or a source whose level changed,
    # are shown differently now.
    quoting = {
        "testimonies": sorted(by_kind.get("testimonies", ())),
        "claims": sorted(by_kind.get("claims", ())),
        "sources": sorted(session.sync_session.info.pop(_SOURCE_LEVELS, set())),
    }
    if any(quoting.values()):
        for kind, record_id in await session.execute(_QUOTING_PROTECTED, quoting):
            by_kind.setdefault(kind, set()).add(record_id)
    for kind, ids in by_kind.items():
        new = {record_id for record_id in ids if (kind, record_id) in inserted}
        await reindex(session, kind, sorted(ids), new=new, progress=progress)
    session.sync_session.info.pop(_PENDING, None)  # the documents' own flushes touch nothing


async def reindex(
    session: AsyncSession,
    kind: str,
    ids: Iterable[str],
    new: Collection[str] = (),
    progress: Progress | None = None,
) -> int:
    """Replace the documents of these records (`new` ones, created in this transaction,
    have none to remove); returns how many documents were written. `progress` counts the
    records, batch by batch, under the stage `indexing {kind}`."""
    indexed = INDEXED[kind]
    id_list = list(ids)
    written = 0
    for start in range(0, len(id_list), _BATCH):
        batch = id_list[start : start + _BATCH]
        existing = [record_id for record_id in batch if record_id not in new]
        if existing:
            await session.execute(
                delete(SearchDocument).where(
                    SearchDocument.kind == kind, one_of(SearchDocument.record_id, existing)
                )
            )
        records = await session.scalars(
            select(indexed.model).options(*indexed.loads).where(one_of(indexed.model.id, batch))
        )
        rows = await document_rows(session, indexed, list(records))
        if rows:
            await session.execute(_INSERT, rows)
            written += len(rows)
        if progress is not None:
            progress(f"indexing {kind}", start + len(batch), len(id_list))
    return written


async def reindex_all(session: AsyncSession, kind: str, progress: Progress | None = None) -> int:
    """Rebuild the documents of every record of `kind`."""
    model = INDEXED[kind].model
    ids = list(await session.scalars(select(model.id)))
    return await reindex(session, kind, ids, progress=progress)


async def index_missing(session: AsyncSession, progress: Progress | None = None) -> int:
    """Index the records that have no document at all: a database written before search
    existed, or restored from a dump without its documents. Returns how many records."""
    count = 0
    for kind, indexed in INDEXED.items():
        missing = list(
            await session.scalars(
                select(indexed.model.id).where(
                    ~select(SearchDocument.id)
                    .where(
                        SearchDocument.kind == kind, SearchDocument.record_id == indexed.model.id
                    )
                    .exists()
                )
            )
        )
        if missing:
            await reindex(session, kind, missing, progress=progress)
            count += len(missing)
    return count


def _weighted(name: str, weight: str) -> Any:
    vector = func.to_tsvector(TEXT_SEARCH_CONFIG, bindparam(name))
    return func.setweight(vector, literal_column(f"'{weight}'"))


_INSERT = insert(SearchDocument).values(
    kind=bindparam("kind"),
    record_id=bindparam("record_id"),
    ref=bindparam("ref"),
    tiers=bindparam("tiers"),
    retracted=bindparam("retracted"),
    title=bindparam("title"),
    names=bindparam("names"),
    body=bindparam("body"),
    vector=_weighted("a", "A")
    .op("||")(_weighted("b", "B"))
    .op("||")(_weighted("c", "C"))
    .op("||")(_weighted("d", "D")),
)
