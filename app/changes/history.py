"""Reading a record's revisions back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Viewer
from app.auth.scopes import Scope
from app.changes.models import Revision
from app.changes.service import RecordKind
from app.db.base import EvidenceRecord
from app.kit.errors import ProblemError
from app.kit.pagination import Cursors, Page, SortKey, Window, fetch_page, parse_int
from app.kit.params import DEFAULT_LIMIT, MAX_LIMIT
from app.kit.protection import ProtectionLevel, strictest
from app.kit.schemas import RecordStatus


class RevisionEntry(BaseModel):
    revision: int
    action: str = Field(description="created, updated, retracted or unsupported.")
    created_at: datetime
    key_id: str | None = Field(description="The API key that wrote it; shown to admin keys.")
    written_by: str = Field(
        description="api (a client of the API), command (`testimony import`) or seed (the "
        "seed files)."
    )
    reason: str | None
    status: RecordStatus = Field(description="The record's status after this revision.")
    changed_fields: list[str]
    changes: dict[str, Any] | None = Field(
        description="Each changed field as {from, to}; null when the record is coarsened for "
        "this client, or when the revision holds a source's archived text and this server does "
        "not serve archived texts to this client (SOURCE_TEXT_ACCESS).",
        json_schema_extra={"x-sensitivity": "restricted"},
    )


class RevisionPage(Page[RevisionEntry]):
    pass


class RevisionQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


def _quotes(snapshot: Any) -> list[dict[str, Any]]:
    """Every quote a stored record holds (a claim's own, excerpts, mentions), wherever it
    stands in the snapshot."""
    if isinstance(snapshot, list):
        return [q for item in snapshot for q in _quotes(item)]
    if not isinstance(snapshot, dict):
        return []
    own = [snapshot] if "quote" in snapshot and "source" in snapshot else []
    return own + [q for value in snapshot.values() for q in _quotes(value)]


def _span(quote: dict[str, Any]) -> tuple[int, int] | None:
    locator = quote.get("locator")
    return (locator["char_start"], locator["char_end"]) if locator else None


async def revision_levels(
    session: AsyncSession,
    kind: RecordKind[Any, Any],
    record: str,
    current: ProtectionLevel,
    revisions: Sequence[Revision],
) -> list[ProtectionLevel]:
    """The level each revision is served at: the strictest of the record's current level,
    the levels the revision itself recorded (the record's, its claimant's, each quote's) and
    the quote policy's level of every quote it holds."""
    quotes = {id(r): _quotes(r.snapshot) for r in revisions}
    cited = {
        s
        for found in quotes.values()
        for q in found
        for s in (q["source"], q.get("relayed_from"))
        if s
    }
    levels = None
    if any(quotes.values()):
        if kind.quote_levels is None:
            raise RuntimeError(f"revisions of {kind.plural} hold quotes: declare quote_levels")
        levels = await kind.quote_levels(session, cited)
    result = []
    for revision in revisions:
        own = strictest(
            current,
            *(
                ProtectionLevel(revision.snapshot[name])
                for name in _RECORDED
                if revision.snapshot.get(name)
            ),
        )
        result.append(
            strictest(
                own,
                *(
                    levels.of(
                        strictest(own, ProtectionLevel(q.get("protection_level") or "public")),
                        q["source"],
                        q.get("relayed_from"),
                        _span(q),
                        q["quote"],
                        record,
                    )
                    for q in quotes[id(revision)]
                    if levels is not None
                ),
            )
        )
    return result


# The levels a snapshot may record for the record, its claimant or a quote.
_RECORDED = ("protection_level", "claimant_level")


async def list_revisions(
    session: AsyncSession,
    kind: RecordKind[Any, Any],
    row: EvidenceRecord,
    query: RevisionQuery,
    cursors: Cursors,
    viewer: Viewer,
) -> tuple[Window[Revision], list[RevisionEntry]]:
    statement = select(Revision).where(
        Revision.record_type == kind.plural, Revision.record_id == row.id
    )
    window = await fetch_page(
        session,
        statement,
        id_column=Revision.id,
        key=SortKey(Revision.revision, parse_int),
        descending=False,
        limit=query.limit,
        cursor=query.cursor,
        fingerprint_fields={"record": f"{kind.plural}/{row.id}", "tier": viewer.principal.tier},
        cursors=cursors,
    )
    record = f"{kind.plural}/{row.id}"
    # A revision's changes hold the values of the revision before it too: they are shown at
    # the stricter level of the two.
    first = window.rows[0].revision if window.rows else 1
    before = await session.scalar(
        select(Revision).where(
            Revision.record_type == kind.plural,
            Revision.record_id == row.id,
            Revision.revision == first - 1,
        )
    )
    earlier = [before] if before is not None else []
    levels = await revision_levels(session, kind, record, kind.level(row), [*earlier, *window.rows])
    if before is None:  # the first revision's changes hold nothing older
        levels = [ProtectionLevel.public, *levels]
    change_levels = [strictest(a, b) for a, b in pairwise(levels)]
    admin = viewer.principal.has(Scope.admin)
    texts = viewer.reads_archived_texts()

    def shown(revision: Revision, level: ProtectionLevel) -> bool:
        if not texts and kind.archived_fields & revision.changes.keys():
            return False
        return viewer.shows_in_full(level, record)

    entries = [
        RevisionEntry(
            revision=revision.revision,
            action=revision.action,
            created_at=revision.created_at,
            key_id=revision.key_id if admin else None,
            written_by=revision.written_by,
            reason=revision.reason,
            status=revision.status,
            changed_fields=sorted(revision.changes),
            changes=revision.changes if shown(revision, level) else None,
        )
        for revision, level in zip(window.rows, change_levels, strict=True)
    ]
    return window, entries


async def read_revision(
    session: AsyncSession,
    kind: RecordKind[Any, Any],
    row: EvidenceRecord,
    number: int,
    viewer: Viewer,
) -> Revision:
    revision = await session.scalar(
        select(Revision).where(
            Revision.record_type == kind.plural,
            Revision.record_id == row.id,
            Revision.revision == number,
        )
    )
    if revision is None:
        raise ProblemError(404, "not-found", f"The {kind.singular} has no revision {number}.")
    record = f"{kind.plural}/{row.id}"
    [level] = await revision_levels(session, kind, record, kind.level(row), [revision])
    if not viewer.shows_in_full(level, record):
        scope = "read:confidential" if level is ProtectionLevel.confidential else "read:restricted"
        raise ProblemError(
            403,
            "forbidden",
            f"This version holds material protected at the {level} level: it needs {scope}.",
        )
    held = [name for name in kind.archived_fields if revision.snapshot.get(name) is not None]
    if held and not viewer.reads_archived_texts():
        raise ProblemError(403, "forbidden", viewer.archived_text_refusal())
    return revision
