"""The application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from app import DATA_LICENSE, __version__, kinds
from app.audit.repository import record_disclosure
from app.audit.router import router as audit_router
from app.auth.dependencies import NO_RECORD_DATA, REQUIRED_SCOPES, get_viewer
from app.auth.ratelimit import RateLimiter, rate_limit_headers
from app.changes.router import router as changes_router
from app.db.engine import (
    ROLLBACK_SECONDS,
    async_url,
    make_engine,
    read_sessions,
    resolve_database_url,
)
from app.db.migrations import head_revision
from app.db.replica import Replica, written_cookie
from app.health import router as health_router
from app.kit.cors import cors_options
from app.kit.cursor_secrets import cursor_secrets
from app.kit.docs import install_docs
from app.kit.errors import PROBLEM_JSON, install_error_handlers
from app.kit.head import HeadAsGet
from app.kit.lifecycle import InFlight, RequestsInFlight
from app.kit.limits import MAX_HEADER_BYTES, MAX_JSON_DEPTH, MAX_URL_BYTES, RequestLimits
from app.kit.pagination import Cursors
from app.kit.params import reject_unknown_query_params
from app.kit.response_headers import StateHeaders
from app.kit.routes import api_routes
from app.observability import metrics
from app.observability.requests import ObservedRequests
from app.observability.tracing import install_tracing, shutdown_tracing
from app.rendering.indexing import index_pending
from app.search.router import router as search_router
from app.settings import Settings, get_settings
from app.stats.router import router as stats_router

BEARER = "bearerAuth"
JSON = "application/json"
# Smaller answers gain less from compression than it costs; past level 6 it costs far more
# time for a few percent.
GZIP_MINIMUM_BYTES = 1024
GZIP_LEVEL = 6
DESCRIPTION = f"""
An evidence database of forced labour in North Korea, built from open sources.

Every record is traceable to a source and a verbatim quote: facilities, testimonies and claims
carry `citations`, and every record carries `cite_as`, its permalink and a plain-text citation.

* Lists are keyset-paginated: follow `links.next` (or the `Link` header) until it is null.
* Filters are typed query parameters; repeating one means OR, different ones combine with AND.
* Enumerations are open: clients must tolerate values added later.
* Errors are RFC 9457 `application/problem+json`.
* The records are CC BY 4.0 (`info.license`): cite them by their `cite_as`. The texts of
  third-party sources are their authors'; records quote them as evidence, and a source's
  archived copy is served for verification only as far as the server's SOURCE_TEXT_ACCESS
  allows.
* Limits: a URL of at most {MAX_URL_BYTES // 1024} KiB (414 beyond), headers of at most
  {MAX_HEADER_BYTES // 1024} KiB together (431), a JSON body of at most `BODY_MAX_BYTES` (413; 5 MiB
  by default) nested at most {MAX_JSON_DEPTH} levels deep (422), and text without NUL characters
  or lone surrogates (422).
"""
# What the API serves is the data: the licence of the records (the code is Apache-2.0).
LICENSE_INFO = {"name": "CC BY 4.0 (the records)", "identifier": DATA_LICENSE}


def create_app(settings: Settings | None = None, *, pooled: bool = True) -> FastAPI:
    settings = settings or get_settings()
    # Before anything is opened: without a usable secret the app does not start.
    cursors = Cursors(*cursor_secrets(settings.cursor_secret, settings.data_dir, settings.host))
    engine_options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "pooled": pooled,
        "statement_timeout": settings.database_statement_timeout,
        "connect_timeout": settings.database_connect_timeout,
        "pool_timeout": settings.database_pool_timeout,
        "pgbouncer": settings.database_pgbouncer,
    }
    engine = make_engine(resolve_database_url(settings), **engine_options)
    replica = (
        Replica(
            make_engine(async_url(settings.database_replica_url), **engine_options),
            engine,
            settings.database_replica_max_lag,
        )
        if settings.database_replica_url
        else None
    )

    in_flight = InFlight()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What starting built (modules, routes, schemas, statements) lasts as long as the
        # process: kept out of the collector's full passes, which would walk it all and
        # pause a request for a tenth of a second now and then.
        gc.collect()
        gc.freeze()
        yield
        # Stopping: the requests the server cancelled roll back and answer before the
        # connections close.
        await in_flight.drained(ROLLBACK_SECONDS + 1)
        await engine.dispose()
        shutdown_tracing(app)
        if replica is not None:
            await replica.engine.dispose()

    app = FastAPI(
        title="testimony-api",
        version=__version__,
        description=DESCRIPTION,
        license_info=LICENSE_INFO,
        lifespan=lifespan,
        separate_input_output_schemas=False,
        dependencies=[Depends(reject_unknown_query_params)],
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    app.state.read_sessionmaker = read_sessions(engine, pgbouncer=settings.database_pgbouncer)
    app.state.replica = replica
    app.state.cursors = cursors
    app.state.head_revision = head_revision()
    app.state.rate_limiter = RateLimiter(settings)
    app.state.before_every_commit = (index_pending,)
    # The policy notes what each request showed in full; the audit trail writes it down.
    app.state.record_disclosure = record_disclosure
    app.state.metrics = metrics.app_registry(engine)
    app.state.metrics_networks = metrics.allowed_networks(settings.metrics_allowed_networks)
    install_error_handlers(app)
    app.add_middleware(RequestsInFlight, in_flight=in_flight)
    app.add_middleware(StateHeaders, add=rate_limit_headers)
    if replica is not None:
        app.add_middleware(StateHeaders, add=written_cookie)
    # A request that is too large or too deep is refused before the app looks at it. The
    # import streams and limits its own body (IMPORT_MAX_BYTES).
    app.add_middleware(
        RequestLimits, max_body_bytes=settings.body_max_bytes, self_limited={"/v1/import"}
    )
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    # Outside compression, so that a HEAD's headers are the GET's, Content-Encoding included.
    app.add_middleware(HeadAsGet)
    app.add_middleware(CORSMiddleware, **cors_options(settings.cors_origins, settings.cors_methods))
    # Outermost: every answer, refusals and preflights included, has an id and a log line.
    app.add_middleware(ObservedRequests)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    for router in (
        health_router,
        audit_router,
        changes_router,
        *kinds.ROUTERS,
        search_router,
        stats_router,
    ):
        app.include_router(router)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    install_docs(app)
    install_tracing(app, engine, settings)
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
        license_info=app.license_info,
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
    # Anonymous clients read, and a key may be sent (`{}` allows anonymous access): the
    # document's default, which every read keeps. An operation that needs a scope says so in
    # its own `security`, scopes listed as roles (OpenAPI 3.1). Reads carry no `security` of
    # their own so that generated clients let them be called without a key.
    schema["security"] = ANONYMOUS_OR_BEARER
    schema["components"]["headers"] = RESPONSE_HEADERS
    for path in schema["paths"].values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if REQUIRED_SCOPES in operation:
                scopes = operation[REQUIRED_SCOPES]
                if scopes:
                    operation["security"] = [{BEARER: scopes}]
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
            if "requestBody" in operation:
                responses.setdefault(
                    "413",
                    {
                        "description": "The body is larger than the limit",
                        "content": {PROBLEM_JSON: {"schema": problem}},
                    },
                )
            responses["414"] = {
                "description": f"The URL is longer than {MAX_URL_BYTES // 1024} KiB",
                "content": {PROBLEM_JSON: {"schema": problem}},
            }
            responses["431"] = {
                "description": f"The headers are larger than {MAX_HEADER_BYTES // 1024} KiB "
                "together",
                "content": {PROBLEM_JSON: {"schema": problem}},
            }
            for response in responses.values():
                content = response.get("content", {})
                if PROBLEM_JSON in content:
                    # FastAPI adds the route's JSON to a `model`'s answer; a problem is only
                    # ever problem+json.
                    response["content"] = {PROBLEM_JSON: content[PROBLEM_JSON]}
            _declare_headers(schema, operation)
    components = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    _declare_storable_text(schema)
    app.openapi_schema = schema
    return schema


ANONYMOUS_OR_BEARER: list[dict[str, list[str]]] = [{}, {BEARER: []}]


def _header(description: str, example: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if example is not None:
        schema["example"] = example
    return {"description": description, "schema": schema}


RESPONSE_HEADERS = {
    "RateLimit": _header(
        "What is left of the client's quota (an IETF draft, as a structured field): the "
        "policy, `r` requests remaining, `t` seconds until the window resets.",
        '"anonymous";r=117;t=42',
    ),
    "RateLimit-Policy": _header(
        "The client's rate-limit policy: its name, `q` requests per `w` seconds.",
        '"anonymous";q=120;w=60',
    ),
    "X-Request-ID": _header(
        "The request's id, in the server's logs too: the client's own `X-Request-ID` when it "
        "sent a usable one."
    ),
    "Retry-After": _header("Seconds to wait before trying again.", "30"),
    "Link": _header(
        'The next page, `rel="next"` (RFC 8288), as `links.next`; absent on the last page.'
    ),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _is_page(document: dict[str, Any], media: dict[str, Any]) -> bool:
    """Whether a JSON answer is a page of a list (the envelope with `page` and `links`)."""
    ref = media.get("schema", {}).get("$ref", "")
    schema = document["components"]["schemas"].get(ref.removeprefix("#/components/schemas/"))
    return schema is not None and {"page", "links"} <= set(schema.get("properties", {}))


def _declare_headers(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """The headers every answer of the operation has: its request id; under the rate limit
    (every /v1 operation) the quota; Retry-After on 429 and 503; a list's Link."""
    limited = REQUIRED_SCOPES in operation
    for status, response in operation["responses"].items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = _ref("X-Request-ID")
        if limited:
            headers["RateLimit"] = _ref("RateLimit")
            headers["RateLimit-Policy"] = _ref("RateLimit-Policy")
        if status in ("429", "503"):
            headers["Retry-After"] = _ref("Retry-After")
        if status == "200" and _is_page(document, response.get("content", {}).get(JSON, {})):
            headers["Link"] = _ref("Link")


# Text the database can store holds no NUL (a JSON Schema pattern, ECMA-262); a lone
# surrogate cannot be sent in a URL or header, and in JSON is no character of any string.
NO_NUL = "^[^\\x00]*$"


def _declare_storable_text(document: dict[str, Any]) -> None:
    """Declare what every request refuses with a 422 (app/kit/schemas.py, app/kit/params.py):
    each string a client sends, in a parameter or a body, holds no NUL. Strings with a
    vocabulary, a format or a pattern of their own exclude it already."""
    components = document["components"]["schemas"]
    done: set[str] = set()

    def declare(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                declare(item)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.removeprefix("#/components/schemas/")
            if name not in done:
                done.add(name)
                declare(components[name])
            return
        if node.get("type") == "string" and not {"enum", "const", "format", "pattern"} & set(node):
            node["pattern"] = NO_NUL
        for key in ("properties", "patternProperties"):
            for item in node.get(key, {}).values():
                declare(item)
        for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems"):
            declare(node.get(key))

    for path in document["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                declare(parameter.get("schema"))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                declare(media.get("schema"))
