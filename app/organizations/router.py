from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.db.engine import SessionDep
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.pagination import page_envelope
from app.organizations import repository
from app.organizations.presenters import present_organization
from app.organizations.schemas import Organization, OrganizationPage, OrganizationQuery

router = APIRouter(prefix="/v1/organizations", tags=["organizations"])


@router.get(
    "", operation_id="list_organizations", **access(None), responses=problem_responses(400, 422)
)
async def list_organizations(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[OrganizationQuery, Query()],
) -> OrganizationPage:
    """Publishers, claimants and operators: state media, ministries, NGOs, outlets, companies."""
    window = await repository.list_organizations(session, query, cursors, viewer.principal)
    data = [present_organization(organization, citer) for organization in window.rows]
    return OrganizationPage.model_validate(
        page_envelope(request, response, window, data, query.limit)
    )


@router.get(
    "/{organization_id}",
    operation_id="get_organization",
    **access(None),
    responses=problem_responses(404),
)
async def get_organization(
    organization_id: str, session: SessionDep, citer: CiterDep
) -> Organization:
    """One organization."""
    return present_organization(await repository.get_organization(session, organization_id), citer)
