from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.db.engine import SessionDep
from app.facilities import repository
from app.facilities.presenters import present_facilities
from app.facilities.schemas import Facility, FacilityPage, FacilityQuery
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.pagination import page_envelope

router = APIRouter(prefix="/v1/facilities", tags=["facilities"])


@router.get(
    "", operation_id="list_facilities", **access(None), responses=problem_responses(400, 422)
)
async def list_facilities(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[FacilityQuery, Query()],
) -> FacilityPage:
    """Mines, camps, factories, farms and other places of forced labour."""
    window = await repository.list_facilities(session, query, cursors, viewer.principal)
    data = await present_facilities(session, window.rows, citer)
    return FacilityPage.model_validate(page_envelope(request, response, window, data, query.limit))


@router.get(
    "/{facility_id}", operation_id="get_facility", **access(None), responses=problem_responses(404)
)
async def get_facility(facility_id: str, session: SessionDep, citer: CiterDep) -> Facility:
    """One facility, with its aliases and the quotes that name it."""
    facility = await repository.get_facility(session, facility_id)
    return (await present_facilities(session, [facility], citer))[0]
