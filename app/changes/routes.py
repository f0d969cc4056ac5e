"""The routes every kind of evidence record shares: read one (with ETag), create, update,
retract, and read its history.

No `from __future__ import annotations` here: the endpoints are built per kind at run time,
and FastAPI reads their parameter types from the live annotations.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field, create_model
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as audit
from app.audit.schemas import AuditAction
from app.auth.dependencies import Viewer, ViewerDep, access
from app.auth.scopes import Principal, Scope
from app.changes import idempotency
from app.changes.history import RevisionPage, RevisionQuery, list_revisions, read_revision
from app.changes.service import RecordKind, WriteContext, create, retract, update
from app.db.base import EvidenceRecord
from app.db.engine import SessionDep, whatever_happens
from app.kit.citing import Citer
from app.kit.conditional import conditional_get
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import problem_responses
from app.kit.pagination import page_envelope
from app.kit.schemas import NonEmptyText, RecordIn, RecordStatus, StrictModel
from app.reading.listing import Records
from app.rendering.indexing import index_pending
from app.views.serving import json_response, served, view_etag

Row = TypeVar("Row", bound=EvidenceRecord)
In = TypeVar("In", bound=RecordIn)
Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class RecordRoutes(Generic[Row, In, Out]):
    kind: RecordKind[Row, In]
    out_schema: type[Out]
    get: Callable[..., Awaitable[Row]]
    records: Records[Any]


def update_schema(create_schema: type[BaseModel], name: str) -> type[BaseModel]:
    """The PATCH body: every field of the create schema but the id, each optional. A field
    left out keeps its value; a field sent as null is cleared."""
    fields: dict[str, Any] = {}
    for field_name, info in create_schema.model_fields.items():
        if field_name == "id":
            continue
        optional = info._copy()
        optional.default = None
        optional.default_factory = None
        annotation = info.annotation
        fields[field_name] = (annotation | None if annotation is not None else Any, optional)
    return create_model(
        name,
        __base__=StrictModel,
        __doc__=f"Changes to a {create_schema.__name__.removesuffix('Create').lower()}: "
        "only the fields sent are changed.",
        **fields,
    )


def write_context(request: Request, principal: Principal, *, batch: bool = False) -> WriteContext:
    """Who writes through this request, and where, for the audit trail; an id refused as
    unavailable is audited even though the request's transaction rolls back."""
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)

    def refused(record: str) -> None:
        async def audit_refusal(session: AsyncSession) -> None:
            audit.record(
                session,
                key_id=principal.key_id,
                action=AuditAction.write_refused,
                method=request.method,
                route=template,
                path=request.url.path,
                records=[record],
            )

        whatever_happens(request, audit_refusal)

    return WriteContext(
        principal=principal,
        method=request.method,
        route=template,
        path=request.url.path,
        batch=batch,
        refused=refused,
    )


def _if_match(description: str) -> dict[str, Any]:
    """If-Match, documented as required: without it a write is a 428 (answered by the
    service, so the parameter itself is optional to FastAPI, which would answer a 422)."""
    header = {"name": "If-Match", "in": "header", "required": True, "description": description}
    return {"parameters": [header | {"schema": {"type": "string"}}]}


# OpenAPI: the headers of an answer holding one record.
VERSIONED = {
    "ETag": {
        "description": "The record's version as this client is shown it: send it as If-Match "
        "to change the record, or as If-None-Match to read it again only if it changed.",
        "schema": {"type": "string"},
    }
}
CREATED = {"Location": {"description": "The new record's URL.", "schema": {"type": "string"}}}


def _a(singular: str) -> str:
    return f"{'an' if singular[0] in 'aeiou' else 'a'} {singular}"


def add_record_routes(router: APIRouter, routes: RecordRoutes[Any, Any, Any]) -> None:
    """The routes every kind of record has: read one, create, change, retract, and its
    history."""
    _add_read_route(router, routes)
    _add_create_route(router, routes)
    _add_change_routes(router, routes)
    _add_revision_routes(router, routes)


async def _answer(
    routes: RecordRoutes[Any, Any, Any],
    session: AsyncSession,
    response: Response,
    record_id: str,
    citer: Citer,
    viewer: Viewer,
    status_code: int = 200,
) -> Any:
    """A write's answer: the record as this client is shown it now."""
    # The write was authorized as the record now stands: this client reads it in full, as
    # its view rendered in this transaction.
    await index_pending(session)
    view = await routes.records.get_view(session, record_id, viewer.principal.tier)
    response.status_code = status_code
    response.headers["ETag"] = view_etag(view, viewer.principal.tier)
    response.headers["Vary"] = "Authorization"
    if status_code == 201:
        response.headers["Location"] = citer.permalink(routes.kind.plural, record_id)
    (shown,) = served([view], routes.out_schema, citer, viewer)
    return json_response(response, shown.json)


def _add_read_route(router: APIRouter, routes: RecordRoutes[Any, Any, Any]) -> None:
    singular = routes.kind.singular
    id_param = f"{singular}_id"
    record_id_param = Annotated[str, Path(alias=id_param)]

    @router.get(
        f"/{{{id_param}}}",
        operation_id=f"get_{singular}",
        summary=f"Read one {singular}",
        response_model=routes.out_schema,
        **access(None),
        responses=problem_responses(404)
        | {
            200: {"headers": VERSIONED},
            304: {"description": "If-None-Match names the current ETag", "headers": VERSIONED},
        },
    )
    async def get_record(
        record_id: record_id_param,
        request: Request,
        response: Response,
        session: SessionDep,
        citer: CiterDep,
        viewer: ViewerDep,
    ) -> Any:
        """One record. Send If-None-Match with its ETag to get a 304 when it is unchanged. A
        retracted record answers with its state: status, reason and date."""
        view = await routes.records.get_view(session, record_id, viewer.principal.tier)
        conditional_get(request, response, view_etag(view, viewer.principal.tier))
        (shown,) = served([view], routes.out_schema, citer, viewer)
        return json_response(response, shown.json)


def _add_create_route(router: APIRouter, routes: RecordRoutes[Any, Any, Any]) -> None:
    kind = routes.kind
    singular, create_schema = kind.singular, kind.create_schema

    @router.post(
        "",
        operation_id=f"create_{singular}",
        summary=f"Create {_a(singular)}",
        response_model=routes.out_schema,
        status_code=201,
        **access(Scope.write),
        responses=problem_responses(409, 422) | {201: {"headers": VERSIONED | CREATED}},
    )
    async def create_record(
        body: create_schema,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        session: SessionDep,
        citer: CiterDep,
        viewer: ViewerDep,
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=255,
                description="Retries with the same key and body get the first answer.",
            ),
        ] = None,
    ) -> Any:
        """Create a record. A reference to an unknown record (or one this key may not see) is
        a 422 naming the field; an id or URL that exists is a 409 (`id-unavailable` when its
        record is one this key may not write). A record this key would not read in full, as
        written, is a 403."""
        return await idempotency.once(
            session,
            viewer.principal,
            idempotency_key,
            request,
            body,
            response,
            lambda: _create(body, request, response, session, citer, viewer),
        )

    async def _create(
        body: Any,
        request: Request,
        response: Response,
        session: AsyncSession,
        citer: Citer,
        viewer: Viewer,
    ) -> Any:
        row = await create(session, kind, body, write_context(request, viewer.principal))
        return await _answer(routes, session, response, row.id, citer, viewer, 201)


def _add_change_routes(router: APIRouter, routes: RecordRoutes[Any, Any, Any]) -> None:
    kind = routes.kind
    singular = kind.singular
    id_param = f"{singular}_id"
    record_id_param = Annotated[str, Path(alias=id_param)]
    update_body = kind.update_schema

    @router.patch(
        f"/{{{id_param}}}",
        operation_id=f"update_{singular}",
        summary=f"Change fields of {_a(singular)}",
        response_model=routes.out_schema,
        **access(Scope.write, _if_match("The ETag of the version being changed.")),
        responses=problem_responses(404, 409, 412, 422, 428) | {200: {"headers": VERSIONED}},
    )
    async def update_record(
        record_id: record_id_param,
        body: update_body,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        session: SessionDep,
        citer: CiterDep,
        viewer: ViewerDep,
        if_match: Annotated[str | None, Header(include_in_schema=False)] = None,
        reason: Annotated[
            NonEmptyText | None, Query(max_length=2000, description="Why, for the history.")
        ] = None,
    ) -> Any:
        """Change some fields of a record; needs If-Match (428 without, 412 when stale). A
        record this key does not read in full, before or after the change, is a 403."""
        await update(
            session,
            kind,
            record_id,
            body,
            if_match,
            write_context(request, viewer.principal),
            reason,
        )
        return await _answer(routes, session, response, record_id, citer, viewer)

    @router.delete(
        f"/{{{id_param}}}",
        operation_id=f"retract_{singular}",
        summary=f"Retract {_a(singular)}",
        response_model=routes.out_schema,
        **access(Scope.write, _if_match("The ETag of the version being retracted.")),
        responses=problem_responses(404, 409, 412, 428) | {200: {"headers": VERSIONED}},
    )
    async def retract_record(
        record_id: record_id_param,
        reason: Annotated[NonEmptyText, Query(max_length=2000, description="Why it is retracted.")],
        request: Request,
        response: Response,
        session: SessionDep,
        citer: CiterDep,
        viewer: ViewerDep,
        if_match: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Any:
        """Retract a record: it is never deleted, and answers with its tombstone. Claims and
        excerpts resting only on a retracted source or testimony become unsupported."""
        await retract(
            session, kind, record_id, reason, if_match, write_context(request, viewer.principal)
        )
        return await _answer(routes, session, response, record_id, citer, viewer)


def _add_revision_routes(router: APIRouter, routes: RecordRoutes[Any, Any, Any]) -> None:
    kind = routes.kind
    singular = kind.singular
    id_param = f"{singular}_id"
    record_id_param = Annotated[str, Path(alias=id_param)]
    create_schema = kind.create_schema
    version_schema = create_model(
        f"{create_schema.__name__.removesuffix('Create')}Version",
        revision=(int, ...),
        action=(str, ...),
        created_at=(datetime, ...),
        reason=(str | None, ...),
        status=(RecordStatus, ...),
        record=(create_schema, Field(description="The record as it was after this revision.")),
    )

    @router.get(
        f"/{{{id_param}}}/revisions",
        operation_id=f"list_{singular}_revisions",
        summary=f"Page through the history of {_a(singular)}",
        **access(None),
        responses=problem_responses(404),
    )
    async def list_record_revisions(
        record_id: record_id_param,
        request: Request,
        response: Response,
        session: SessionDep,
        cursors: CursorsDep,
        viewer: ViewerDep,
        query: Annotated[RevisionQuery, Query()],
    ) -> RevisionPage:
        """The record's history, oldest first: who changed what, when and why."""
        row = await routes.get(session, record_id, viewer.principal)
        window, data = await list_revisions(session, kind, row, query, cursors, viewer)
        return RevisionPage.model_validate(
            page_envelope(request, response, window, data, query.limit)
        )

    @router.get(
        f"/{{{id_param}}}/revisions/{{revision}}",
        operation_id=f"get_{singular}_revision",
        summary=f"Read {_a(singular)} as it was after one revision",
        response_model=version_schema,
        **access(None),
        responses=problem_responses(403, 404),
    )
    async def get_record_revision(
        record_id: record_id_param,
        revision: Annotated[int, Path(ge=1)],
        session: SessionDep,
        viewer: ViewerDep,
    ) -> Any:
        """The record exactly as it was after one revision."""
        row = await routes.get(session, record_id, viewer.principal)
        found = await read_revision(session, kind, row, revision, viewer)
        return version_schema(
            revision=found.revision,
            action=found.action,
            created_at=found.created_at,
            reason=found.reason,
            status=found.status,
            record=found.snapshot,
        )
