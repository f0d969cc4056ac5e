"""Every write leaves a revision: the field-level diff, who, when, why, and the record after."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.changes.models import Revision
from app.db.base import EvidenceRecord
from app.kit.schemas import RecordStatus


class Writer(StrEnum):
    """Who wrote a revision: a client of the API, the command line (`testimony import`), or
    the seed loader. The seed never overwrites what anyone but the seed wrote."""

    api = "api"
    command = "command"
    seed = "seed"


class Action:
    created = "created"
    updated = "updated"
    retracted = "retracted"
    unsupported = "unsupported"


def field_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """Fields whose value differs, as {field: {"from": old, "to": new}}."""
    before = before or {}
    return {
        name: {"from": before.get(name), "to": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def record_revision(
    session: AsyncSession,
    record_type: str,
    row: EvidenceRecord,
    *,
    action: str,
    before: BaseModel | None,
    after: BaseModel,
    key_id: str | None,
    reason: str | None = None,
    written_by: Writer = Writer.api,
) -> Revision:
    """Bump the row's version and store the revision; both commit with the write itself."""
    row.version = 1 if before is None else row.version + 1
    if row.status is None:  # a new row, before the database fills in its default
        row.status = RecordStatus.active
    snapshot = after.model_dump(mode="json")
    revision = Revision(
        record_type=record_type,
        record_id=row.id,
        revision=row.version,
        action=action,
        key_id=key_id,
        written_by=written_by,
        reason=reason,
        changes=field_changes(
            before.model_dump(mode="json") if before is not None else None, snapshot
        ),
        snapshot=snapshot,
        status=row.status or RecordStatus.active,
    )
    session.add(revision)
    return revision
