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
from app.kit.protection import ProtectionLevel
from app.sources.citations import QuoteLevels
from app.sources.repository import quotes_resting_on_sources, with_found_locators
from app.testimonies import repository
from app.testimonies.models import Testimony as TestimonyRow
from app.testimonies.models import TestimonyExcerpt
from app.testimonies.schemas import Testimony, TestimonyCreate, TestimonyPage, TestimonyQuery
from app.views.serving import page_response, served

router = APIRouter(prefix="/v1/testimonies", tags=["testimonies"])


EXPORT = ListExport(
    "testimonies", Testimony, repository.RECORDS, repository.testimony_conditions, EXPORT_FORMATS
)


@router.get(
    "",
    operation_id="list_testimonies",
    summary="Page through testimonies",
    **access(None),
    response_model=TestimonyPage,
    responses=problem_responses(400, 422),
)
async def list_testimonies(
    request: Request,
    response: Response,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    query: Annotated[TestimonyQuery, Query()],
    format: ListFormatDep,
    exporter: ExporterDep,
) -> TestimonyPage | Response:
    """Accounts of survivors, witnesses and inside sources, under pseudonyms."""
    if format is not ListFormat.json:
        return await exporter.respond(EXPORT, query, format)
    window = await repository.list_testimonies(session, query, cursors, viewer.principal)
    repository.suppress_small_cells(
        window,
        request.app.state.settings.small_cell_threshold,
        exact=viewer.principal.sees_in_full(ProtectionLevel.restricted),
    )
    views = served(window.rows, Testimony, citer, viewer)
    return page_response(request, response, window, views, query.limit, TestimonyPage)


add_export_routes(router, EXPORT, TestimonyQuery)


add_record_routes(
    router,
    RecordRoutes(
        kind=RecordKind(
            plural="testimonies",
            model=TestimonyRow,
            create_schema=TestimonyCreate,
            update_schema=update_schema(TestimonyCreate, "TestimonyUpdate"),
            loads=repository.RECORDS.loads,
            as_input=repository.testimony_input,
            new=lambda data: TestimonyRow(id=data.id, facilities=[], excerpts=[]),
            write=repository.write_testimony,
            visible=repository.visible_testimonies,
            level=repository.testimony_level,
            as_stored=with_found_locators,
            quote_levels=QuoteLevels.load,
            rests_on=(
                quotes_resting_on_sources(
                    TestimonyRow,
                    TestimonyExcerpt,
                    TestimonyExcerpt.testimony_id,
                    TestimonyRow.excerpts,
                    repository.RECORDS.loads,
                ),
            ),
        ),
        out_schema=Testimony,
        get=repository.get_testimony,
        records=repository.RECORDS,
    ),
)
