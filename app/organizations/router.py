from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import ViewerDep, access
from app.changes.routes import RecordRoutes, add_record_routes, update_schema
from app.changes.service import RecordKind
from app.db.engine import SessionDep
from app.exports.exporter import (
    EXPORT_FORMATS,
    ExporterDep,
    ListExport,
    ListFormat,
    ListFormatDep,
)
from app.exports.routes import add_export_routes
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.organizations import repository
from app.organizations.models import Organization as OrganizationRow
from app.organizations.schemas import (
    Organization,
    OrganizationCreate,
    OrganizationPage,
    OrganizationQuery,
)
from app.views.serving import page_response, served

router = APIRouter(prefix="/v1/organizations", tags=["organizations"])


EXPORT = ListExport(
    "organizations",
    Organization,
    repository.RECORDS,
    repository.organization_conditions,
    EXPORT_FORMATS,
)


@router.get(
    "",
    operation_id="list_organizations",
    summary="Page through organizations",
    **access(None),
    response_model=OrganizationPage,
    responses=problem_responses(400, 422),
)
async def list_organizations(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[OrganizationQuery, Query()],
    format: ListFormatDep,
    exporter: ExporterDep,
) -> OrganizationPage | Response:
    """Publishers, claimants and operators: state media, ministries, NGOs, outlets, companies."""
    if format is not ListFormat.json:
        return await exporter.respond(EXPORT, query, format)
    window = await repository.list_organizations(session, query, cursors, viewer.principal)
    views = served(window.rows, Organization, citer, viewer)
    return page_response(request, response, window, views, query.limit, OrganizationPage)


add_export_routes(router, EXPORT, OrganizationQuery)


add_record_routes(
    router,
    RecordRoutes(
        kind=RecordKind(
            plural="organizations",
            model=OrganizationRow,
            create_schema=OrganizationCreate,
            update_schema=update_schema(OrganizationCreate, "OrganizationUpdate"),
            loads=repository.RECORDS.loads,
            as_input=repository.organization_input,
            new=lambda data: OrganizationRow(id=data.id),
            write=repository.write_organization,
            visible=lambda _principal: None,
        ),
        out_schema=Organization,
        get=repository.get_organization,
        records=repository.RECORDS,
    ),
)
