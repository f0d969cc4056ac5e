from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.audit import repository
from app.audit.schemas import AuditEvent, AuditPage, AuditQuery
from app.auth.dependencies import PrincipalDep, access
from app.auth.scopes import Scope
from app.db.engine import SessionDep
from app.kit.deps import CursorsDep
from app.kit.pagination import page_envelope

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "",
    operation_id="list_audit_events",
    summary="Page through the audit trail",
    **access(Scope.admin, record_data=False),
)
async def list_audit_events(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    query: Annotated[AuditQuery, Query()],
    principal: PrincipalDep,
) -> AuditPage:
    """Every disclosure of restricted or confidential records, and every write."""
    window = await repository.list_events(session, query, cursors, principal)
    data = [
        AuditEvent(
            id=event.id,
            occurred_at=event.created_at,
            key_id=event.key_id,
            action=event.action,
            method=event.method,
            route=event.route,
            path=event.path,
            records=event.records,
        )
        for event in window.rows
    ]
    return AuditPage.model_validate(page_envelope(request, response, window, data, query.limit))
