"""Reading a record's revisions back."""

from __future__ import annotations

from datetime import datetime
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
from app.kit.schemas import RecordStatus


class RevisionEntry(BaseModel):
    revision: int
    action: str = Field(description="created, updated, retracted or unsupported.")
    created_at: datetime
    key_id: str | None = Field(description="The API key that wrote it; shown to admin keys.")
    reason: str | None
    status: RecordStatus = Field(description="The record's status after this revision.")
    changed_fields: list[str]
    changes: dict[str, Any] | None = Field(
        description="Each changed field as {from, to}; null when the record is coarsened for "
        "this client.",
        json_schema_extra={"x-sensitivity": "restricted"},
    )


class RevisionPage(Page[RevisionEntry]):
    pass


class RevisionQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


def _full_view(kind: RecordKind[Any, Any], row: EvidenceRecord, viewer: Viewer) -> bool:
    return viewer.shows_in_full(kind.level(row), f"{kind.plural}/{row.id}")


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
    full = _full_view(kind, row, viewer)
    admin = viewer.principal.has(Scope.admin)
    entries = [
        RevisionEntry(
            revision=revision.revision,
            action=revision.action,
            created_at=revision.created_at,
            key_id=revision.key_id if admin else None,
            reason=revision.reason,
            status=revision.status,
            changed_fields=sorted(revision.changes),
            changes=revision.changes if full else None,
        )
        for revision in window.rows
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
    if not _full_view(kind, row, viewer):
        raise ProblemError(
            403, "forbidden", "Earlier versions of a protected record need read:restricted."
        )
    return revision
