"""The change feed: every creation, update and retraction, in commit order.

A revision carries the id of the transaction that wrote it. The feed shows a revision only
once every transaction that started before the reader's snapshot has ended: none of those can
still commit behind a position a reader has passed, so a reader that follows the cursor sees
each change exactly once, whatever concurrent writers do.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, not_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Principal
from app.changes.models import Revision
from app.changes.service import kinds
from app.kit.pagination import Cursors, Page, SortKey, Window, fetch_page, fingerprint, parse_int
from app.kit.params import DEFAULT_LIMIT, MAX_LIMIT

# Transactions below this id have all ended, committed or not.
_HORIZON = text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
_POSITION = SortKey(Revision.transaction_id, parse_int)


class RecordType(StrEnum):
    organizations = "organizations"
    sources = "sources"
    facilities = "facilities"
    testimonies = "testimonies"
    claims = "claims"


class Change(BaseModel):
    record_type: str = Field(description="organizations, sources, facilities, testimonies, claims")
    record_id: str
    revision: int
    action: str = Field(description="created, updated, retracted or unsupported")
    occurred_at: datetime


class ChangePage(Page[Change]):
    pass


class ChangeQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    after: str | None = Field(
        default=None,
        description="Cursor from `page.next_cursor` of the previous call; omit to start at "
        "the beginning. The feed always returns a cursor to continue from, also at its end.",
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    record_type: list[RecordType] = Field(default_factory=list, description="Only these kinds.")


def _visible_changes(principal: Principal) -> ColumnElement[bool] | None:
    """Changes of the records this client may learn exist; None when it may see all."""
    hidden = [
        and_(
            Revision.record_type == kind.plural,
            Revision.record_id.in_(select(kind.model.id).where(not_(visible))),
        )
        for kind in kinds()
        if (visible := kind.visible(principal)) is not None
    ]
    return not_(or_(*hidden)) if hidden else None


async def read_changes(
    session: AsyncSession, query: ChangeQuery, cursors: Cursors, principal: Principal
) -> tuple[Window[Revision], list[Change]]:
    statement = select(Revision).where(Revision.transaction_id < _HORIZON)
    visible = _visible_changes(principal)
    if visible is not None:
        statement = statement.where(visible)
    if query.record_type:
        statement = statement.where(Revision.record_type.in_(query.record_type))
    bound = {"feed": sorted(t.value for t in query.record_type), "tier": principal.tier}
    window = await fetch_page(
        session,
        statement,
        id_column=Revision.id,
        key=_POSITION,
        descending=False,
        limit=query.limit,
        cursor=query.after,
        fingerprint_fields=bound,
        cursors=cursors,
    )
    if window.next_cursor is None:
        # At the end: hand back where this reader stands, to poll from later.
        if window.rows:
            last = window.rows[-1]
            window.next_cursor = cursors.encode(fingerprint(bound), last.transaction_id, last.id)
        else:  # nothing yet: a cursor for the very start
            window.next_cursor = query.after or cursors.encode(fingerprint(bound), 0, 0)
    changes = [
        Change(
            record_type=revision.record_type,
            record_id=revision.record_id,
            revision=revision.revision,
            action=revision.action,
            occurred_at=revision.created_at,
        )
        for revision in window.rows
    ]
    return window, changes
