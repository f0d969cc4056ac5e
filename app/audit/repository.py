"""Every query of the audit trail."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from fastapi import Request
from fastapi.routing import APIRoute
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.audit.schemas import AuditAction, AuditQuery
from app.auth.scopes import Principal
from app.kit.pagination import Cursors, SortKey, Window, parse_datetime
from app.kit.protection import ProtectionLevel
from app.reading.listing import Records, any_of

RECORDS = Records(
    AuditEvent,
    "audit event",
    {"occurred_at": SortKey(AuditEvent.created_at, parse_datetime)},
    stored=False,
)


def _event_id(now: datetime) -> str:
    # Sorts by time, then random: unique without a sequence, and never reused.
    return f"evt-{now:%Y%m%d%H%M%S%f}-{secrets.token_hex(4)}"


def record(
    session: AsyncSession,
    *,
    key_id: str | None,
    action: AuditAction,
    method: str,
    route: str,
    path: str,
    records: Iterable[str],
) -> None:
    """Add an audit event to the session's transaction: it is stored with what it records."""
    now = datetime.now(UTC)
    session.add(
        AuditEvent(
            id=_event_id(now),
            key_id=key_id,
            action=action,
            method=method,
            route=route,
            path=path,
            records=sorted(records),
            created_at=now,
            updated_at=now,
        )
    )


async def record_disclosure(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    disclosed: Mapping[str, ProtectionLevel],
) -> None:
    """Record that this request showed `disclosed` records (type/id -> level) in full."""
    confidential = ProtectionLevel.confidential in disclosed.values()
    route = request.scope.get("route")
    record(
        session,
        key_id=principal.key_id,
        action=AuditAction.read_confidential if confidential else AuditAction.read_restricted,
        method=request.method,
        route=route.path if isinstance(route, APIRoute) else request.url.path,
        path=request.url.path,
        records=disclosed,
    )


async def list_events(
    session: AsyncSession, query: AuditQuery, cursors: Cursors, principal: Principal
) -> Window[AuditEvent]:
    return await RECORDS.page(session, event_conditions, query, query.sort, cursors, principal)


def event_conditions(query: AuditQuery, _principal: Principal) -> list[ColumnElement[bool] | None]:
    return [
        any_of(AuditEvent.key_id, query.key_id),
        any_of(AuditEvent.action, query.action),
        AuditEvent.records.overlap(query.record) if query.record else None,
        AuditEvent.created_at >= query.occurred_from if query.occurred_from else None,
        AuditEvent.created_at <= query.occurred_to if query.occurred_to else None,
    ]
