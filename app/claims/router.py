from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.changes.routes import RecordRoutes, add_record_routes, update_schema
from app.changes.service import RecordKind
from app.claims import repository
from app.claims.models import Claim as ClaimRow
from app.claims.presenters import present_claims
from app.claims.schemas import Claim, ClaimCreate, ClaimPage, ClaimQuery
from app.db.engine import SessionDep
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.pagination import page_envelope

router = APIRouter(prefix="/v1/claims", tags=["claims"])


@router.get("", operation_id="list_claims", **access(None), responses=problem_responses(400, 422))
async def list_claims(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[ClaimQuery, Query()],
) -> ClaimPage:
    """Quantitative claims: every number with its unit, uncertainty, claimant and quote."""
    window = await repository.list_claims(session, query, cursors, viewer.principal)
    data = await present_claims(session, window.rows, citer, viewer)
    return ClaimPage.model_validate(page_envelope(request, response, window, data, query.limit))


add_record_routes(
    router,
    RecordRoutes(
        kind=RecordKind(
            plural="claims",
            model=ClaimRow,
            create_schema=ClaimCreate,
            update_schema=update_schema(ClaimCreate, "ClaimUpdate"),
            loads=repository.RECORDS.loads,
            as_input=repository.claim_input,
            new=lambda data: ClaimRow(id=data.id),
            write=repository.write_claim,
            visible=repository.visible_claims,
            level=repository.claim_level,
            patch_base=repository.claim_patch_base,
        ),
        out_schema=Claim,
        get=repository.get_claim,
        present=present_claims,
    ),
)
