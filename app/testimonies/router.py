from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.db.engine import SessionDep
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.pagination import page_envelope
from app.kit.protection import ProtectionLevel, small_cell
from app.testimonies import repository
from app.testimonies.presenters import present_testimonies
from app.testimonies.schemas import Testimony, TestimonyPage, TestimonyQuery

router = APIRouter(prefix="/v1/testimonies", tags=["testimonies"])


@router.get(
    "", operation_id="list_testimonies", **access(None), responses=problem_responses(400, 422)
)
async def list_testimonies(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[TestimonyQuery, Query()],
) -> TestimonyPage:
    """Accounts of survivors, witnesses and inside sources, under pseudonyms."""
    window = await repository.list_testimonies(session, query, cursors, viewer.principal)
    window.total = small_cell(
        window.total,
        request.app.state.settings.small_cell_threshold,
        exact=viewer.principal.sees_in_full(ProtectionLevel.restricted),
    )
    data = await present_testimonies(session, window.rows, citer, viewer)
    return TestimonyPage.model_validate(page_envelope(request, response, window, data, query.limit))


@router.get(
    "/{testimony_id}",
    operation_id="get_testimony",
    **access(None),
    responses=problem_responses(404),
)
async def get_testimony(
    testimony_id: str, session: SessionDep, citer: CiterDep, viewer: ViewerDep
) -> Testimony:
    """One testimony, with the witness's words as citations."""
    testimony = await repository.get_testimony(session, testimony_id, viewer.principal)
    return (await present_testimonies(session, [testimony], citer, viewer))[0]
