"""Exports: every record a list matches, streamed as CSV, NDJSON or a domain's own format.

An export is the JSON list without its pages: the same repository query (filters, search,
sort, access rules), walked with keyset cursors in batches of `BATCH_SIZE`, and the same
presenter, so records are protected, coarsened and audited exactly as in the JSON list.

The request's own session commits before a response body is sent, so the body reads through
a session of its own, in one REPEATABLE READ transaction: every batch sees one snapshot.
Disclosures of protected records are written to the audit trail, and committed, in a
separate short transaction before the batch that shows them leaves.

Once the body has started its status (200) is sent and cannot change. When the database is
lost mid-stream the body is broken off: the server logs it and closes the connection without
the chunked body's last chunk, so the client sees an incomplete download (httpx
RemoteProtocolError, curl exit code 18) rather than a file that looks complete; it never
hangs (the statements have deadlines, the snapshot's close is bounded).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import types
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Protocol, TypeVar, Union, get_args, get_origin

import anyio
from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.repository import record_disclosure
from app.auth.dependencies import Viewer, ViewerDep
from app.auth.scopes import Principal
from app.db.engine import ROLLBACK_SECONDS, SessionDep
from app.db.replica import Replica
from app.kit.citing import Citer
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import database_unavailable
from app.kit.metrics import ROWS_EXPORTED
from app.kit.pagination import Cursors, Window
from app.kit.params import ListQuery
from app.views.serving import StoredView, served

logger = logging.getLogger(__name__)

# Rows per query: big enough that the round trips do not dominate, small enough that a
# batch (with its citations) stays a few hundred kilobytes.
BATCH_SIZE = 500
JSON = "json"
JSON_MEDIA_TYPE = "application/json"

Q = TypeVar("Q", bound=ListQuery)
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


class ExportWriter:
    """Turns batches of records, as the JSON list shows them (their stored views), into the
    text of one export."""

    def start(self) -> str:
        return ""

    def write(self, records: Sequence[StoredView[Any]]) -> str:
        raise NotImplementedError

    def end(self) -> str:
        return ""


class JsonArrayWriter(ExportWriter):
    """A JSON document holding one array of items, written item by item."""

    opening = "["
    closing = "]\n"

    def __init__(self) -> None:
        self._empty = True

    def items(self, records: Sequence[StoredView[Any]]) -> Iterable[Any]:
        raise NotImplementedError

    def start(self) -> str:
        return self.opening

    def write(self, records: Sequence[StoredView[Any]]) -> str:
        parts = []
        for item in self.items(records):
            parts.append(("\n" if self._empty else ",\n") + compact_json(item))
            self._empty = False
        return "".join(parts)

    def end(self) -> str:
        return ("" if self._empty else "\n") + self.closing


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class ExportFormat:
    """One way to export a list: its name for people, media type, file extension, the
    OpenAPI schema of the body and a writer for the list's output model."""

    label: str
    media_type: str
    extension: str
    writer: Callable[[type[BaseModel]], ExportWriter]
    schema: dict[str, Any]
    content_type: str | None = None  # the header value, when it says more than media_type
    # The export's path is the list's with this suffix (`/v1/claims.csv`); the extension when
    # not given.
    suffix: str | None = None

    @property
    def header(self) -> str:
        return self.content_type or self.media_type

    @property
    def path_suffix(self) -> str:
        return "." + (self.suffix or self.extension)


# --- CSV -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A CSV column: its header (the dotted field path) and how to write the value."""

    path: tuple[str, ...]
    kind: str  # "scalar", "list" (scalars joined with "; ") or "json" (objects as JSON text)

    @property
    def header(self) -> str:
        return ".".join(self.path)


def _without_none(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def csv_columns(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[Column]:
    """The columns of a model, from its declaration (never from data, so the header is the
    same whatever the records): nested objects become dotted columns, lists of scalars one
    column joined with "; ", lists of objects one column of compact JSON."""
    columns: list[Column] = []
    for name, info in model.model_fields.items():
        path = (*prefix, info.serialization_alias or info.alias or name)
        options = _without_none(info.annotation)
        if len(options) == 1 and _is_model(options[0]):
            columns += csv_columns(options[0], path)
        elif len(options) == 1 and get_origin(options[0]) in (list, tuple, set, frozenset):
            items = [i for arg in get_args(options[0]) for i in _without_none(arg)]
            objects = any(_is_model(i) or get_origin(i) in (dict, list) for i in items)
            columns.append(Column(path, "json" if objects else "list"))
        elif any(_is_model(o) or get_origin(o) in (dict, list) for o in options):
            columns.append(Column(path, "json"))
        else:
            columns.append(Column(path, "scalar"))
    return columns


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe, which
    makes spreadsheets show it as text; numbers (-5, +1.5) are left as they are."""
    if text.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return compact_json(value)
    return str(value)


def _cell(data: Any, column: Column) -> str:
    value = data
    for key in column.path:
        if not isinstance(value, dict):
            return ""
        value = value.get(key)
    if value is None:
        return ""
    if column.kind == "json":
        return compact_json(value)
    if column.kind == "list" and isinstance(value, list):
        return neutralise_formula("; ".join(_scalar(item) for item in value))
    return neutralise_formula(_scalar(value))


class CsvWriter(ExportWriter):
    """RFC 4180: comma-separated, fields quoted when they hold a comma, a quote or a line
    break, CRLF line ends, a header row."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.columns = csv_columns(model)

    def _lines(self, rows: Iterable[Sequence[str]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue()

    def start(self) -> str:
        return self._lines([[column.header for column in self.columns]])

    def write(self, records: Sequence[StoredView[Any]]) -> str:
        return self._lines(
            [_cell(record.data, column) for column in self.columns] for record in records
        )


class NdjsonWriter(ExportWriter):
    """One record per line, exactly as the JSON list's `data` holds it."""

    def write(self, records: Sequence[StoredView[Any]]) -> str:
        return "".join(record.json + "\n" for record in records)


CSV = ExportFormat(
    label="CSV",
    media_type="text/csv",
    extension="csv",
    writer=CsvWriter,
    schema={
        "type": "string",
        "description": "Every matching record, one CSV row each under a header row (RFC 4180, "
        "UTF-8). Nested fields are dotted columns (`period.start`), lists of values are "
        'joined with "; ", lists of objects (`citations`) are JSON text.',
    },
    content_type="text/csv; charset=utf-8; header=present",
)
NDJSON = ExportFormat(
    label="NDJSON",
    media_type="application/x-ndjson",
    extension="ndjson",
    writer=lambda _model: NdjsonWriter(),
    schema={
        "type": "string",
        "description": "Every matching record as one JSON object per line, exactly the "
        "objects of the JSON list's `data`.",
    },
)
EXPORT_FORMATS: dict[str, ExportFormat] = {"csv": CSV, "ndjson": NDJSON}


class ListFormat(StrEnum):
    """How a list answers: `json`, one page in the list envelope; `csv` or `ndjson`, every
    matching record."""

    json = "json"
    csv = "csv"
    ndjson = "ndjson"


# `format` (or Accept) on a list asks for an export too. It is left out of the document,
# where each export is an operation of its own with one media type (`/v1/claims.csv`), which
# SDK generators type cleanly; the parameter stays for the clients that use it.
FORMAT_PARAMETER = Query(
    include_in_schema=False,
    description="`json` (the default): one page in the list envelope. Any other format: "
    "every matching record, all pages from `cursor` on, in one streamed file. Or ask through "
    "the Accept header; `format` wins when both are given.",
)


# --- Content negotiation ---------------------------------------------------------------------


def negotiate(accept: str | None, formats: Mapping[str, ExportFormat]) -> str:
    """The format the Accept header prefers among JSON and `formats`; JSON when it names
    none of them (a browser's `*/*` included)."""
    offered = {JSON_MEDIA_TYPE: JSON, "*/*": JSON, "application/*": JSON}
    offered |= {spec.media_type: name for name, spec in formats.items()}
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept or "").split(",")):
        media_type, *parameters = [p.strip() for p in part.split(";")]
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, media_type.lower()))
    for _, _, media_type in sorted(ranked):
        if media_type in offered:
            return offered[media_type]
    return JSON


def choose_format(
    request: Request, response: Response, asked: StrEnum | None, formats: Mapping[str, ExportFormat]
) -> str:
    """`format` if given, else what the Accept header asks for."""
    response.headers["Vary"] = "Accept"
    if asked is not None:
        return asked.value
    return negotiate(request.headers.get("accept"), formats)


def list_format(
    request: Request,
    response: Response,
    format: Annotated[ListFormat | None, FORMAT_PARAMETER] = None,
) -> ListFormat:
    return ListFormat(choose_format(request, response, format, EXPORT_FORMATS))


ListFormatDep = Annotated[ListFormat, Depends(list_format)]


# --- Sessions for a streamed body ------------------------------------------------------------


class StreamSessions(Protocol):
    """Sessions for work done after the request's own session has closed."""

    def snapshot(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session in one read-only REPEATABLE READ transaction: one snapshot throughout."""
        ...

    def audit(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A short transaction, committed when the block ends without error."""
        ...


@dataclass(frozen=True)
class DatabaseSessions:
    """Audits on `sessionmaker` (the primary); reads on `reads` when given (a replica)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    reads: async_sessionmaker[AsyncSession] | None = None

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        session = (self.reads or self.sessionmaker)()
        try:
            # Set before the first statement: the transaction takes its snapshot then.
            await session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
            yield session
        finally:
            # Also when the client went away and the body's task is being cancelled: the
            # connection goes back to the pool, its transaction rolled back. Bounded: a lost
            # connection must not hold the body open.
            with anyio.move_on_after(ROLLBACK_SECONDS, shield=True):
                await session.close()

    @asynccontextmanager
    async def audit(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session, session.begin():
            yield session


async def get_stream_sessions(request: Request) -> StreamSessions:
    replica: Replica | None = request.app.state.replica
    if replica is not None and await replica.serves(request):
        return DatabaseSessions(request.app.state.sessionmaker, reads=replica.sessionmaker)
    return DatabaseSessions(request.app.state.sessionmaker)


StreamSessionsDep = Annotated[StreamSessions, Depends(get_stream_sessions)]


# --- The export of one list ------------------------------------------------------------------


@dataclass(frozen=True)
class ListExport(Generic[Q, M]):
    """How one list is exported: its records' name (the file name), output model and query,
    and the formats it offers besides CSV and NDJSON."""

    name: str
    schema: type[M]
    list_records: Callable[[AsyncSession, Q, Cursors, Principal], Awaitable[Window[Any]]]
    formats: Mapping[str, ExportFormat] = field(default_factory=lambda: EXPORT_FORMATS)


def batch_query(query: Q, cursor: str | None, limit: int | None = None) -> Q:
    """The list's query for one batch: every filter and the sort kept, no count, no facets
    (neither is part of an export, nor of what a cursor is bound to)."""
    update: dict[str, Any] = {"limit": limit or BATCH_SIZE, "count": False, "cursor": cursor}
    facet = type(query).model_fields.get("facet")
    if facet is not None:
        update["facet"] = facet.get_default(call_default_factory=True)
    return query.model_copy(update=update)


async def export_batches(
    export: ListExport[Q, M],
    query: Q,
    session: AsyncSession,
    cursors: Cursors,
    citer: Citer,
    viewer: Viewer,
) -> AsyncGenerator[list[StoredView[M]]]:
    """Every record the query matches from its cursor on, batch by batch, as `viewer` is
    served them; what a batch disclosed is in `viewer.disclosed` when it is yielded."""
    batch = batch_query(query, query.cursor)
    while True:
        window = await export.list_records(session, batch, cursors, viewer.principal)
        yield served(window.rows, export.schema, citer, viewer)
        if window.next_cursor is None:
            return
        batch = batch_query(query, window.next_cursor)


class ExportCutError(Exception):
    """The database was lost after the body started: the download is broken off."""


@dataclass
class Exporter:
    """Answers a list request with an export (request-scoped)."""

    request: Request
    session: AsyncSession
    cursors: Cursors
    citer: Citer
    principal: Principal
    sessions: StreamSessions

    async def respond(self, export: ListExport[Q, M], query: Q, format: str) -> Response:
        spec = export.formats[format]
        # Check everything before the body starts (a bad cursor is a 400, not a broken
        # stream): the first row, read in the request's own transaction.
        first = batch_query(query, query.cursor, limit=1)
        await export.list_records(self.session, first, self.cursors, self.principal)
        today = datetime.now(UTC).date().isoformat()
        filename = f"{export.name}-{today}.{spec.extension}"
        return StreamingResponse(
            self._body(export, query, spec.writer(export.schema)),
            media_type=spec.header,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Vary": "Accept",
            },
        )

    async def _body(
        self, export: ListExport[Q, M], query: Q, writer: ExportWriter
    ) -> AsyncIterator[bytes]:
        # The status and headers leave now, before the first query: compression waits for a
        # body to send them, and a failure before the first batch would leave no answer at all.
        yield b""
        viewer = Viewer(self.principal)
        head = writer.start()
        sent = 0
        try:
            async with (
                self.sessions.snapshot() as session,
                aclosing(
                    export_batches(export, query, session, self.cursors, self.citer, viewer)
                ) as batches,
            ):
                async for records in batches:
                    if viewer.disclosed:
                        # Recorded and committed before the records leave.
                        async with self.sessions.audit() as audit:
                            await record_disclosure(
                                audit, self.request, self.principal, viewer.disclosed
                            )
                        viewer.disclosed.clear()
                    chunk = head + writer.write(records)
                    head = ""
                    sent += len(records)
                    ROWS_EXPORTED.labels(export=export.name).inc(len(records))
                    if chunk:
                        yield chunk.encode()
        except Exception as error:
            if not database_unavailable(error):
                raise
            # Raised out of the body, the server closes the connection without the last
            # chunk: an incomplete download, never a short file that looks whole.
            message = f"the export of {export.name} was cut after {sent} records"
            logger.warning("%s: the database became unavailable", message)
            raise ExportCutError(message) from error
        yield (head + writer.end()).encode()


def get_exporter(
    request: Request,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    sessions: StreamSessionsDep,
) -> Exporter:
    return Exporter(request, session, cursors, citer, viewer.principal, sessions)


ExporterDep = Annotated[Exporter, Depends(get_exporter)]
