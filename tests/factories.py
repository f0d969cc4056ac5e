"""One-line builders of valid records, written through the same code as the seed loader."""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.changes.revisions import Action, record_revision
from app.claims.models import Claim
from app.claims.repository import save_claim
from app.claims.schemas import ClaimCreate
from app.db.base import EvidenceRecord
from app.facilities.models import Facility
from app.facilities.repository import save_facility
from app.facilities.schemas import FacilityCreate
from app.kit.schemas import RecordIn
from app.organizations.models import Organization
from app.organizations.repository import save_organization
from app.organizations.schemas import OrganizationCreate
from app.rendering.indexing import index_missing, index_pending
from app.sources.models import Source
from app.sources.repository import quoted_sources, save_source
from app.sources.schemas import SourceCreate
from app.testimonies.models import Testimony
from app.testimonies.repository import save_testimony
from app.testimonies.schemas import TestimonyCreate
from app.views import counts

_numbers = itertools.count(1)
T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_numbers)}"


async def organization(session: AsyncSession, **fields: Any) -> Organization:
    data = OrganizationCreate(
        **{"id": unique("org"), "name": "Korean Central News Agency", "kind": "state_media"}
        | fields
    )
    row = save_organization(session, data, None)
    created(session, "organizations", row, data)
    await session.flush()
    return row


async def source(
    session: AsyncSession, relays: list[Source] | None = None, **fields: Any
) -> Source:
    defaults = {"id": unique("source"), "title": "A report", "source_type": "news_report"}
    data = SourceCreate(**defaults | fields | {"relays": [s.id for s in relays or []]})
    row = save_source(session, data, Source(id=data.id, relays=[]), list(relays or []))
    created(session, "sources", row, data)
    await session.flush()
    return row


async def facility(session: AsyncSession, **fields: Any) -> Facility:
    defaults = {"id": unique("facility"), "name": "A coal mine", "facility_type": "coal_mine"}
    data = FacilityCreate(**defaults | fields)
    texts = await quoted_sources(session, [m.source for m in data.mentions])
    row = save_facility(session, data, None, texts)
    created(session, "facilities", row, data)
    await session.flush()
    return row


async def testimony(
    session: AsyncSession, facilities: list[Facility] | None = None, **fields: Any
) -> Testimony:
    defaults = {
        "id": unique("testimony"),
        "witness_pseudonym": "Witness A",
        "witness_role": "survivor",
        "summary": "The witness says she worked in a mine.",
        "protection_level": "public",
    }
    if fields.get("protection_level", "public") != "public":
        defaults["protection_reason"] = "A test record."
    data = TestimonyCreate(**defaults | fields | {"facilities": [f.id for f in facilities or []]})
    texts = await quoted_sources(session, [e.source for e in data.excerpts])
    row = save_testimony(session, data, None, list(facilities or []), texts)
    created(session, "testimonies", row, data)
    await session.flush()
    return row


async def claim(session: AsyncSession, **fields: Any) -> Claim:
    if "source" not in fields:
        fields["source"] = (await source(session)).id
    if "claimant_organization" not in fields and "claimant_testimony" not in fields:
        fields["claimant_organization"] = (await organization(session)).id
    defaults = {
        "id": unique("claim"),
        "statement": "KCNA claims 700 orphans volunteered.",
        "fact": "orphans-assigned-to-labour",
        "metric": "persons_count",
        "value": 700,
        "unit": "persons",
        "quote": "700 orphans had volunteered",
    }
    levels = (fields.get("protection_level", "public"), fields.get("claimant_level", "public"))
    if any(level != "public" for level in levels):
        defaults["protection_reason"] = "A test record."
    data = ClaimCreate(**defaults | fields)
    row = save_claim(session, data, None, await quoted_sources(session, [data.source]))
    created(session, "claims", row, data)
    await session.flush()
    return row


def created(session: AsyncSession, kind: str, row: EvidenceRecord, data: RecordIn) -> None:
    record_revision(session, kind, row, action=Action.created, before=None, after=data, key_id=None)


async def touch(session: AsyncSession, row: Any, when: datetime) -> None:
    """Set a row's updated_at (inside one transaction now() never moves)."""
    model = type(row)
    await session.execute(update(model).where(model.id == row.id).values(updated_at=when))
    await session.flush()


async def api_key(session: AsyncSession, *scopes: str, name: str = "test key") -> dict[str, str]:
    """A new key with these scopes, as the headers that send it."""
    _, key = await create_key(session, name, [Scope(s) for s in scopes])
    return {"Authorization": f"Bearer {key}"}


async def render_missing(connection: AsyncConnection) -> int:
    """Render what was put in by SQL on `connection` (as `testimony db upgrade` would), in
    its transaction."""

    async def render(session: AsyncSession) -> int:
        rendered = await index_missing(session)
        await index_pending(session)
        return rendered

    return await _in_transaction_of(connection, render)


async def remove_committed(connection: AsyncConnection, table: str, ids: str) -> None:
    """Delete records a test committed (ids matching the LIKE pattern `ids`) with what was
    written of them (revisions, views, search documents), and count the views afresh."""
    for statement in (
        f"DELETE FROM {table} WHERE id LIKE :ids",
        "DELETE FROM revisions WHERE record_id LIKE :ids",
        "DELETE FROM record_views WHERE record_id LIKE :ids",
        "DELETE FROM search_documents WHERE record_id LIKE :ids",
    ):
        await connection.execute(text(statement), {"ids": ids})
    await recount(connection)


async def recount(connection: AsyncConnection) -> None:
    """Count the stored views afresh on `connection`, in its transaction: after a test
    deleted by SQL the views of records it had committed."""
    await _in_transaction_of(connection, counts.recount)


async def _in_transaction_of(
    connection: AsyncConnection, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    try:
        result = await work(session)
        await session.commit()  # its savepoint: the connection's transaction goes on
        return result
    finally:
        await session.close()


def is_etag(tag: str, version: int, tier: str) -> bool:
    """Whether `tag` is the ETag of this version's view for this tier (a digest of the view
    follows them)."""
    return re.fullmatch(rf'"{version}-{tier}-[0-9a-f]{{12}}"', tag) is not None
