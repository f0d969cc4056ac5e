"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.claims.router import router as claims_router
from app.db.engine import make_engine, resolve_database_url
from app.db.migrations import head_revision
from app.facilities.router import router as facilities_router
from app.health import router as health_router
from app.kit.errors import PROBLEM_JSON, install_error_handlers
from app.kit.pagination import Cursors
from app.kit.params import reject_unknown_query_params
from app.organizations.router import router as organizations_router
from app.settings import Settings, get_settings
from app.sources.router import router as sources_router
from app.testimonies.router import router as testimonies_router

DESCRIPTION = """
An evidence database of forced labour in North Korea, built from open sources.

Every record is traceable to a source and a verbatim quote: facilities, testimonies and claims
carry `citations`, and every record carries `cite_as`, its permalink and a plain-text citation.

* Lists are keyset-paginated: follow `links.next` (or the `Link` header) until it is null.
* Filters are typed query parameters; repeating one means OR, different ones combine with AND.
* Enumerations are open: clients must tolerate values added later.
* Errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: Settings | None = None, *, pooled: bool = True) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(
        resolve_database_url(settings), pool_size=settings.database_pool_size, pooled=pooled
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="testimony-api",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        separate_input_output_schemas=False,
        dependencies=[Depends(reject_unknown_query_params)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    app.state.cursors = Cursors(settings.cursor_secret)
    app.state.head_revision = head_revision()
    install_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    for router in (
        health_router,
        organizations_router,
        sources_router,
        facilities_router,
        testimonies_router,
        claims_router,
    ):
        app.include_router(router)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, with the error answers every operation really gives.

    Every route rejects unknown query parameters (400) and reports malformed values as
    problem+json (422), so FastAPI's own validation-error schema never applies.
    """
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        separate_input_output_schemas=False,
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    for path in schema["paths"].values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses["400"] = {
                "description": "Unknown query parameter or unusable cursor",
                "content": {PROBLEM_JSON: {"schema": problem}},
            }
            if "422" in responses or operation.get("parameters"):
                responses["422"] = {
                    "description": "Malformed parameter value",
                    "content": {PROBLEM_JSON: {"schema": problem}},
                }
    components = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema
