"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.audit.router import router as audit_router
from app.auth.dependencies import NO_RECORD_DATA, REQUIRED_SCOPES, get_viewer
from app.auth.ratelimit import RateLimiter, RateLimitHeaders
from app.changes.router import router as changes_router
from app.claims.router import router as claims_router
from app.db.engine import ROLLBACK_SECONDS, make_engine, resolve_database_url
from app.db.migrations import head_revision
from app.facilities.router import router as facilities_router
from app.health import router as health_router
from app.kit.cursor_secrets import cursor_secrets
from app.kit.errors import PROBLEM_JSON, install_error_handlers
from app.kit.lifecycle import InFlight, RequestsInFlight
from app.kit.pagination import Cursors
from app.kit.params import reject_unknown_query_params
from app.kit.routes import api_routes
from app.organizations.router import router as organizations_router
from app.search.indexing import index_pending
from app.search.router import router as search_router
from app.settings import Settings, get_settings
from app.sources.router import router as sources_router
from app.stats.router import router as stats_router
from app.testimonies.router import router as testimonies_router

BEARER = "bearerAuth"
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
    # Before anything is opened: without a usable secret the app does not start.
    cursors = Cursors(*cursor_secrets(settings))
    engine = make_engine(
        resolve_database_url(settings),
        pool_size=settings.database_pool_size,
        pooled=pooled,
        statement_timeout=settings.database_statement_timeout,
        connect_timeout=settings.database_connect_timeout,
        pool_timeout=settings.database_pool_timeout,
    )

    in_flight = InFlight()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Stopping: the requests the server cancelled roll back and answer before the
        # connections close.
        await in_flight.drained(ROLLBACK_SECONDS + 1)
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
    app.state.cursors = cursors
    app.state.head_revision = head_revision()
    app.state.rate_limiter = RateLimiter(settings)
    app.state.before_every_commit = (index_pending,)
    install_error_handlers(app)
    app.add_middleware(RequestsInFlight, in_flight=in_flight)
    app.add_middleware(RateLimitHeaders)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    for router in (
        health_router,
        audit_router,
        changes_router,
        organizations_router,
        sources_router,
        facilities_router,
        testimonies_router,
        claims_router,
        search_router,
        stats_router,
    ):
        app.include_router(router)
    check_every_route_decides_access(app)
    check_every_record_route_takes_the_policy(app)
    return app


def check_every_route_decides_access(app: FastAPI) -> None:
    """Refuse to start with an API route whose access nobody decided: protection must hold
    on routes added later too."""
    undecided = [
        api.path
        for api in api_routes(app)
        if api.path.startswith("/v1/") and REQUIRED_SCOPES not in (api.route.openapi_extra or {})
    ]
    if undecided:
        raise RuntimeError(f"routes without a declared access(): {', '.join(undecided)}")


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def check_every_record_route_takes_the_policy(app: FastAPI) -> None:
    """Refuse to start with a /v1 route that may answer with record data but does not take
    the `Viewer`: what a client is shown of a record is decided by the policy, never by a
    route on its own."""
    undecided = [
        f"{'/'.join(sorted(api.methods))} {api.path}"
        for api in api_routes(app)
        if api.path.startswith("/v1/")
        and not (api.route.openapi_extra or {}).get(NO_RECORD_DATA)
        and not _depends_on(api.route.dependant, get_viewer)
    ]
    if undecided:
        raise RuntimeError(f"routes that bypass the disclosure policy: {', '.join(undecided)}")


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
    schema["components"]["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer tk_...`. Anonymous clients read "
            "public data; scopes read:restricted, read:confidential, write and admin unlock "
            "more. Each operation lists the scope it needs in `security` and "
            "`x-required-scopes`.",
        }
    }
    for path in schema["paths"].values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if REQUIRED_SCOPES in operation:
                scopes = operation[REQUIRED_SCOPES]
                # Scopes of a bearer scheme are listed as roles (OpenAPI 3.1); `{}` allows
                # anonymous access.
                operation["security"] = [{BEARER: scopes}] if scopes else [{}, {BEARER: []}]
                responses["401"] = {
                    "description": "The API key is wrong or revoked",
                    "content": {PROBLEM_JSON: {"schema": problem}},
                }
                if scopes:
                    responses["403"] = {
                        "description": "The API key lacks the scope",
                        "content": {PROBLEM_JSON: {"schema": problem}},
                    }
                responses["429"] = {
                    "description": "Too many requests; see Retry-After",
                    "content": {PROBLEM_JSON: {"schema": problem}},
                }
                responses["503"] = {
                    "description": "The database cannot answer at the moment; see Retry-After",
                    "content": {PROBLEM_JSON: {"schema": problem}},
                }
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
