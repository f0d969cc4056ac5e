"""Exports: every record a list matches, streamed as CSV, NDJSON or a domain's own format.

An export is the JSON list without its pages: the same query (filters, search, sort, access
rules, from the list's cursor on) over the same stored views, so records are protected,
coarsened and audited exactly as in the JSON list; read as one statement, through a database
cursor, `BATCH_SIZE` records at a time. CSV and NDJSON lines are put together by PostgreSQL
from the stored views (`app.views.lines`): a batch arrives as ready text, which Python only
joins. The other formats are written in Python from the views as the JSON list serves them.

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

import asyncio
import json
import logging
import zlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from operator import itemgetter
from typing import Annotated, Any, Generic, Protocol, TypeVar

import anyio
from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Row, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.repository import record_disclosure
from app.auth.dependencies import Viewer, ViewerDep
from app.auth.scopes import Principal
from app.db.cursors import in_batches
from app.db.engine import ROLLBACK_SECONDS, SessionDep
from app.db.replica import Replica
from app.kit.citing import Citer
from app.kit.deps import CiterDep, CursorsDep
from app.kit.errors import database_unavailable
from app.kit.metrics import ROWS_EXPORTED
from app.kit.pagination import Cursors
from app.kit.params import ListQuery
from app.kit.spreadsheets import MEDIA_TYPE as XLSX_MEDIA_TYPE
from app.kit.spreadsheets import Sheet
from app.kit.tables import csv_header, table_columns
from app.reading.listing import Conditions, Records
from app.views.lines import DISCLOSED, check_live, csv_line, ndjson_line
from app.views.serving import VIEW_COLUMNS, StoredView, ViewColumn, served

logger = logging.getLogger(__name__)

# Records per fetch: big enough that a round trip costs little beside its rows, small enough
# that a batch stays a few megabytes. Each batch's disclosures are audited before it leaves.
BATCH_SIZE = 2000
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

    def finish(self) -> Iterable[bytes]:
        """The export's last bytes; a format that is whole only at the end (a zip archive)
        gives the whole file here. Blocking: the exporter runs it in a worker thread."""
        return [self.end().encode()]

    def discard(self) -> None:
        """Frees what the writer holds, however the export ended."""


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
class LineFormat:
    """A format of one line per record, which PostgreSQL puts together from the stored
    views: `line` gives the SQL expression for a request's citer, the list's output model
    and its live figures; `head` the text before the first line."""

    line: Callable[[Citer, type[BaseModel], Sequence[str]], ColumnElement[str]]
    head: Callable[[type[BaseModel]], str] = lambda _model: ""


@dataclass(frozen=True)
class ExportFormat:
    """One way to export a list: its name for people, media type, file extension, the
    OpenAPI schema of the body, and either its lines (`lines`) or a writer for the list's
    output model (`writer`)."""

    label: str
    media_type: str
    extension: str
    schema: dict[str, Any]
    writer: Callable[[type[BaseModel]], ExportWriter] | None = None
    lines: LineFormat | None = None
    content_type: str | None = None  # the header value, when it says more than media_type
    # The export's path is the list's with this suffix (`/v1/claims.csv`); the extension when
    # not given.
    suffix: str | None = None

    def __post_init__(self) -> None:
        if (self.writer is None) == (self.lines is None):
            raise ValueError(f"{self.label}: an export format has a writer or lines, not both")

    @property
    def header(self) -> str:
        return self.content_type or self.media_type

    @property
    def path_suffix(self) -> str:
        return "." + (self.suffix or self.extension)


# --- CSV, NDJSON and XLSX -------------------------------------------------------------------


class XlsxWriter(ExportWriter):
    """One worksheet named after the output model: the CSV's columns, typed cells."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.columns = table_columns(model)
        self.sheet = Sheet(model.__name__, [column.header for column in self.columns])

    def write(self, records: Sequence[StoredView[Any]]) -> str:
        for record in records:
            data = record.data
            self.sheet.append([column.value(data) for column in self.columns])
        return ""

    def finish(self) -> Iterable[bytes]:
        return self.sheet.finish()

    def discard(self) -> None:
        self.sheet.discard()


CSV_LINES = LineFormat(line=csv_line, head=csv_header)
NDJSON_LINES = LineFormat(line=lambda citer, _model, live: ndjson_line(citer, live))
FLAT_COLUMNS = (
    "Nested fields are dotted columns (`period.start`), lists of values are joined with "
    '"; ", a list of objects is a `.count` column and one column per field of its items, one '
    "line per item (`citations.source.id`); a claim's one citation is flat."
)
CSV = ExportFormat(
    label="CSV",
    media_type="text/csv",
    extension="csv",
    lines=CSV_LINES,
    schema={
        "type": "string",
        "description": "Every matching record, one CSV row each under a header row (RFC 4180, "
        "UTF-8). " + FLAT_COLUMNS,
    },
    content_type="text/csv; charset=utf-8; header=present",
)
NDJSON = ExportFormat(
    label="NDJSON",
    media_type="application/x-ndjson",
    extension="ndjson",
    lines=NDJSON_LINES,
    schema={
        "type": "string",
        "description": "Every matching record as one JSON object per line, exactly the "
        "objects of the JSON list's `data`.",
    },
)
XLSX = ExportFormat(
    label="an Excel workbook",
    media_type=XLSX_MEDIA_TYPE,
    extension="xlsx",
    writer=XlsxWriter,
    schema={
        "type": "string",
        "format": "binary",
        "description": "Every matching record as one row of an Excel worksheet (Office Open "
        "XML), under a header row, with the CSV's columns; numbers and booleans are typed "
        "cells, dates ISO 8601 text. " + FLAT_COLUMNS,
    },
)
EXPORT_FORMATS: dict[str, ExportFormat] = {"csv": CSV, "ndjson": NDJSON, "xlsx": XLSX}


class ListFormat(StrEnum):
    """How a list answers: `json`, one page in the list envelope; `csv`, `ndjson` or `xlsx`,
    every matching record."""

    json = "json"
    csv = "csv"
    ndjson = "ndjson"
    xlsx = "xlsx"


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


async def list_format(
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
            connection = await session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
            # An export's statement costs enough for PostgreSQL to compile its expressions
            # before the first row; joining text gains nothing from that.
            await connection.execute(text("SET LOCAL jit = off"))
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
    """How one list is exported: its records' name (the file name), output model, how its
    records are read and filtered, the formats it offers besides CSV and NDJSON, and the
    live figures of its views (see `app.views.models.RecordView`)."""

    name: str
    schema: type[M]
    records: Records[Any]
    conditions: Conditions[Q]
    formats: Mapping[str, ExportFormat] = field(default_factory=lambda: EXPORT_FORMATS)
    live: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_live(self.schema, self.live)


def batch_query(query: Q, cursor: str | None, limit: int | None = None) -> Q:
    """The list's query for one batch: every filter and the sort kept, no count, no facets
    (neither is part of an export, nor of what a cursor is bound to)."""
    update: dict[str, Any] = {"limit": limit or BATCH_SIZE, "count": False, "cursor": cursor}
    facet = type(query).model_fields.get("facet")
    if facet is not None:
        update["facet"] = facet.get_default(call_default_factory=True)
    return query.model_copy(update=update)


def sort_of(query: ListQuery) -> str:
    """The sort a list's query asks for: each list's query declares its own `sort`."""
    sort: str = query.sort  # type: ignore[attr-defined]
    return sort


async def export_rows(
    export: ListExport[Q, M],
    query: Q,
    session: AsyncSession,
    cursors: Cursors,
    principal: Principal,
    columns: Sequence[ViewColumn],
) -> AsyncGenerator[Sequence[Row[Any]]]:
    """`columns` of the view of every record the query matches from its cursor on, in
    batches of `BATCH_SIZE` rows. One statement reads them all, through a cursor of the
    snapshot's transaction (see `app.db.cursors`): PostgreSQL plans the export once, rather
    than a page per batch."""
    statement = await export.records.ordered(
        session,
        export.conditions,
        batch_query(query, query.cursor),
        sort_of(query),
        cursors,
        principal,
        columns,
    )
    rows = in_batches(await session.connection(), statement, BATCH_SIZE)
    async with aclosing(rows):
        async for batch in rows:
            yield batch


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
    batches = export_rows(export, query, session, cursors, viewer.principal, VIEW_COLUMNS)
    async with aclosing(batches):
        async for rows in batches:
            yield served(rows, export.schema, citer, viewer)


@dataclass(frozen=True)
class Lines:
    """One batch of an export's lines: how many records, and for each line asked for, the
    batch's lines as one text."""

    count: int
    texts: list[str]


async def export_lines(
    export: ListExport[Q, M],
    query: Q,
    session: AsyncSession,
    cursors: Cursors,
    lines: Sequence[ColumnElement[str]],
    viewer: Viewer,
) -> AsyncGenerator[Lines]:
    """Every record the query matches from its cursor on, batch by batch, as `lines` (SQL
    expressions over its stored view, see `app.views.lines`) for `viewer`; what a batch
    disclosed is in `viewer.disclosed` when it is yielded."""
    columns = [*(line.label(f"line_{n}") for n, line in enumerate(lines)), DISCLOSED]
    disclosed = itemgetter(len(lines))
    batches = export_rows(export, query, session, cursors, viewer.principal, columns)
    async with aclosing(batches):
        async for rows in batches:
            for shown in filter(None, map(disclosed, rows)):
                viewer.note_disclosed(shown)
            texts = ["".join(map(itemgetter(n), rows)) for n in range(len(lines))]
            yield Lines(len(rows), texts)


async def read_ahead(items: AsyncIterator[R]) -> AsyncIterator[R]:
    """`items`, each read while the one before is in use: the next batch is read from the
    database while the last one is still on its way to the client. Stopped early, the read
    under way is cancelled and waited for (bounded, like a rollback)."""
    pending = asyncio.ensure_future(anext(items))
    try:
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(items))
            yield item
    finally:
        pending.cancel()
        with anyio.move_on_after(ROLLBACK_SECONDS, shield=True):
            await asyncio.wait([pending])
        if pending.done() and not pending.cancelled():
            pending.exception()  # nobody waits for it any more


class Gzip:
    """An export's bytes gzip-compressed as they stream, each chunk flushed as it leaves (a
    download starts at once, and one broken off is incomplete rather than short). Faster
    than the app's other answers (`app.main.GZIP_LEVEL`): at level 6, compressing a CSV
    export of claims takes as long as reading it; at `LEVEL`, less than half as long, for a
    file a fifth larger."""

    LEVEL = 3

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(self.LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, chunk: bytes) -> bytes:
        return self._compressor.compress(chunk) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def end(self) -> bytes:
        return self._compressor.flush()


class ExportCutError(Exception):
    """The database was lost after the body started: the download is broken off."""


# A streamed export as it leaves: batches of (records, bytes).
Chunks = AsyncGenerator[tuple[int, bytes]]


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
        await export.records.page(
            self.session, export.conditions, first, sort_of(first), self.cursors, self.principal
        )
        today = datetime.now(UTC).date().isoformat()
        filename = f"{export.name}-{today}.{spec.extension}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Vary": "Accept"}
        packed = "gzip" in self.request.headers.get("accept-encoding", "")
        if packed:  # compressed here, not by the app's middleware (which adds its Vary then)
            headers |= {"Content-Encoding": "gzip", "Vary": "Accept, Accept-Encoding"}
        return StreamingResponse(
            self._body(export, query, spec, Gzip() if packed else None),
            media_type=spec.header,
            headers=headers,
        )

    async def _body(
        self, export: ListExport[Q, M], query: Q, spec: ExportFormat, gzip: Gzip | None
    ) -> AsyncIterator[bytes]:
        # The status and headers leave now, before the first query: a failure before the
        # first batch would leave no answer at all.
        yield b""
        sent = 0
        try:
            async with (
                self.sessions.snapshot() as session,
                aclosing(self._audited(export, query, spec, session)) as chunks,
            ):
                async for records, chunk in read_ahead(chunks):
                    sent += records
                    ROWS_EXPORTED.labels(export=export.name).inc(records)
                    if gzip is not None:
                        # In a worker thread (zlib lets go of the interpreter meanwhile),
                        # while the next batch is read.
                        chunk = await anyio.to_thread.run_sync(gzip.compress, chunk)
                    if chunk:
                        yield chunk
            if gzip is not None:
                yield gzip.end()
        except Exception as error:
            if not database_unavailable(error):
                raise
            # Raised out of the body, the server closes the connection without the last
            # chunk: an incomplete download, never a short file that looks whole.
            message = f"the export of {export.name} was cut after {sent} records"
            logger.warning("%s: the database became unavailable", message)
            raise ExportCutError(message) from error

    async def _audited(
        self, export: ListExport[Q, M], query: Q, spec: ExportFormat, session: AsyncSession
    ) -> Chunks:
        """The export's chunks, what each one discloses recorded and committed before it is
        handed on."""
        viewer = Viewer(self.principal)
        async with aclosing(self._chunks(export, query, spec, session, viewer)) as chunks:
            async for records, chunk in chunks:
                if viewer.disclosed:
                    async with self.sessions.audit() as audit:
                        await record_disclosure(
                            audit, self.request, self.principal, viewer.disclosed
                        )
                    viewer.disclosed.clear()
                yield records, chunk

    def _chunks(
        self,
        export: ListExport[Q, M],
        query: Q,
        spec: ExportFormat,
        session: AsyncSession,
        viewer: Viewer,
    ) -> Chunks:
        if spec.lines is not None:
            return self._lines(export, query, spec.lines, session, viewer)
        assert spec.writer is not None
        return self._written(export, query, spec.writer(export.schema), session, viewer)

    async def _lines(
        self,
        export: ListExport[Q, M],
        query: Q,
        lines: LineFormat,
        session: AsyncSession,
        viewer: Viewer,
    ) -> Chunks:
        yield 0, lines.head(export.schema).encode()
        line = lines.line(self.citer, export.schema, export.live)
        batches = export_lines(export, query, session, self.cursors, [line], viewer)
        async with aclosing(batches):
            async for batch in batches:
                yield batch.count, batch.texts[0].encode()

    async def _written(
        self,
        export: ListExport[Q, M],
        query: Q,
        writer: ExportWriter,
        session: AsyncSession,
        viewer: Viewer,
    ) -> Chunks:
        try:
            yield 0, writer.start().encode()
            batches = export_batches(export, query, session, self.cursors, self.citer, viewer)
            async with aclosing(batches):
                async for records in batches:
                    # In a worker thread: a batch of spreadsheet rows is a CPU-bound
                    # tenth of a second or more, which the event loop's other requests
                    # should not wait for.
                    text = await anyio.to_thread.run_sync(writer.write, records)
                    yield len(records), text.encode()
            for part in await anyio.to_thread.run_sync(writer.finish):
                yield 0, part
        finally:
            writer.discard()


async def get_exporter(
    request: Request,
    session: SessionDep,
    cursors: CursorsDep,
    citer: CiterDep,
    viewer: ViewerDep,
    sessions: StreamSessionsDep,
) -> Exporter:
    return Exporter(request, session, cursors, citer, viewer.principal, sessions)


ExporterDep = Annotated[Exporter, Depends(get_exporter)]
