from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.claims import repository
from app.claims.presenters import present_claims
from app.claims.schemas import Claim, ClaimPage, ClaimQuery
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


@router.get(
    "/{claim_id}", operation_id="get_claim", **access(None), responses=problem_responses(404)
)
async def get_claim(
    claim_id: str, session: SessionDep, citer: CiterDep, viewer: ViewerDep
) -> Claim:
    """One claim, with its quote, citation and relay chain."""
    claim = await repository.get_claim(session, claim_id, viewer.principal)
    return (await present_claims(session, [claim], citer, viewer))[0]
