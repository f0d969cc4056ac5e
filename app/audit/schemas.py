from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.kit.pagination import Page
from app.kit.params import FilterValue, IsoDateTime, ListQuery


class AuditAction(StrEnum):
    read_restricted = "read_restricted"
    read_confidential = "read_confidential"
    write = "write"
    # A write refused because its id is held by a record the key may not write (see README).
    write_refused = "write_refused"


class AuditEvent(BaseModel):
    id: str
    occurred_at: datetime
    key_id: str | None
    action: AuditAction
    method: str
    route: str = Field(description="The route template, e.g. /v1/testimonies/{testimony_id}.")
    path: str
    records: list[str] = Field(description="Records involved, as `type/id`.")


class AuditPage(Page[AuditEvent]):
    pass


class AuditSort(StrEnum):
    """Sort orders; a leading "-" sorts descending. The id breaks ties."""

    occurred_at_asc = "occurred_at"
    occurred_at_desc = "-occurred_at"


class AuditQuery(ListQuery):
    sort: AuditSort = Field(default=AuditSort.occurred_at_desc, description="Sort order.")
    key_id: list[FilterValue] = Field(default_factory=list, description="Events of these API keys.")
    action: list[AuditAction] = Field(default_factory=list)
    record: list[FilterValue] = Field(
        default_factory=list, description="Events involving this record, as `type/id`."
    )
    occurred_from: IsoDateTime | None = None
    occurred_to: IsoDateTime | None = None
