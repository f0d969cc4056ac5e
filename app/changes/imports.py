"""Bulk import: NDJSON, one typed record per line, all or nothing in one transaction.

Every record goes through the code of a single write, with its checks: an existing record the
key may see is updated as `PATCH` updates it (the whole record as given, at whatever version is
current), any other is created as `POST` creates it. So a key imports only what it could write
one record at a time, and learns from an import only what those writes would tell it.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import Principal, Scope
from app.changes import service
from app.changes.revisions import Writer
from app.changes.service import WriteContext, record_kind
from app.db import locks
from app.db.base import EvidenceRecord
from app.kit.errors import FieldError, ProblemError
from app.kit.limits import MAX_JSON_DEPTH, too_deep, too_deep_message
from app.kit.metrics import count_imported
from app.kit.progress import Progress
from app.kit.schemas import PLURAL, SINGULAR, RecordIn
from app.reading.listing import one_of
from app.rendering.indexing import index_pending

# Each kind refers only to kinds before it (and sources to sources): the order of writing.
ORDER = tuple(SINGULAR)
MAX_REPORTED = 200
# The OpenAPI schema of a JSON import body (validated by `parse_json`, line by line).
IMPORT_LINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "record"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": list(PLURAL)},
        "record": {
            "type": "object",
            "description": "The record, as the create body of its type is.",
            "additionalProperties": True,
        },
    },
}
IMPORT_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The records to import; the array alone is taken too.",
    "required": ["records"],
    "additionalProperties": False,
    "properties": {"records": {"type": "array", "items": IMPORT_LINE_SCHEMA}},
}


class ImportReport(BaseModel):
    dry_run: bool = Field(description="True when nothing was written.")
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]


def command_line(command: str) -> WriteContext:
    """Writes made from the command line: no key, and every scope (whoever runs it runs the
    database); audited like writes through the API, with the method `CLI`."""
    return WriteContext(
        principal=Principal(key_id=None, scopes=frozenset(Scope), address="cli"),
        method="CLI",
        route=f"testimony {command}",
        path=f"testimony {command}",
        batch=True,
        written_by=Writer.command,
    )


@dataclass(frozen=True)
class Line:
    number: int
    kind: str  # plural
    record: RecordIn


def _problem(errors: list[FieldError], lines: int) -> ProblemError:
    shown = errors[:MAX_REPORTED]
    more = f" (the first {MAX_REPORTED} are listed)" if len(errors) > MAX_REPORTED else ""
    return ProblemError(
        422,
        "invalid-import",
        f"{len(errors)} {'problem' if len(errors) == 1 else 'problems'} in {lines} lines{more}; "
        "nothing was written.",
        errors=shown,
    )


def _error(line: int, field: str, message: str) -> FieldError:
    return FieldError(location="body", name=f"line {line}: {field}", message=message)


def _body_error(message: str) -> FieldError:
    return FieldError(location="body", name="body", message=message)


def parse(raw: bytes) -> tuple[list[Line], int]:
    """Every line validated, and the number of the last; a 422 listing each bad line and
    field when any is wrong."""
    entries: list[tuple[int, Any]] = []
    errors: list[FieldError] = []
    count = 0
    # Lines end at \n only: a JSON string may hold U+2028 or a form feed, which splitlines()
    # would break the line at.
    for number, text in enumerate(raw.decode("utf-8", errors="replace").split("\n"), start=1):
        if not text.strip():
            continue
        count = number
        if too_deep(text):
            errors.append(_error(number, "line", too_deep_message()))
            continue
        try:
            entries.append((number, json.loads(text)))
        except ValueError as error:  # not JSON, or a number too long to convert
            errors.append(_error(number, "line", f"not JSON: {getattr(error, 'msg', error)}"))
    return _validated(entries, errors, count)


def parse_json(raw: bytes) -> tuple[list[Line], int]:
    """The records of a JSON body, `{"records": [...]}` or the array alone, each an object
    as a line of NDJSON is, validated as lines are; a record's "line" is its position in the
    array, from 1."""
    # The array and its object are two levels above the records' own.
    if too_deep(raw, MAX_JSON_DEPTH + 2):
        raise _problem([_body_error(too_deep_message())], 0)
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise _problem([_body_error(f"not JSON: {getattr(error, 'msg', error)}")], 0) from None
    if isinstance(body, dict) and set(body) == {"records"}:
        body = body["records"]
    if not isinstance(body, list):
        expected = 'expected {"records": [...]} or an array of {"type": ..., "record": {...}}'
        raise _problem([_body_error(expected)], 0)
    return _validated(list(enumerate(body, start=1)), [], len(body))


def _validated(
    entries: list[tuple[int, Any]], errors: list[FieldError], count: int
) -> tuple[list[Line], int]:
    lines: list[Line] = []
    seen: dict[tuple[str, str], int] = {}
    for number, envelope in entries:
        if not isinstance(envelope, dict) or set(envelope) != {"type", "record"}:
            errors.append(_error(number, "line", 'expected {"type": ..., "record": {...}}'))
            continue
        if envelope["type"] not in PLURAL:
            errors.append(_error(number, "type", f"one of {', '.join(PLURAL)}"))
            continue
        kind = PLURAL[envelope["type"]]
        try:
            record = record_kind(kind).create_schema.model_validate(envelope["record"])
        except ValidationError as error:
            for detail in error.errors():
                field = ".".join(str(part) for part in detail["loc"]) or "record"
                errors.append(_error(number, f"record.{field}", detail["msg"]))
            continue
        if (kind, record.id) in seen:
            first = seen[(kind, record.id)]
            errors.append(_error(number, "record.id", f"already given on line {first}"))
            continue
        seen[(kind, record.id)] = number
        lines.append(Line(number, kind, record))
    if errors:
        raise _problem(errors, count)
    return lines, count


async def _look_up(
    session: AsyncSession, context: WriteContext, lines: Sequence[Line]
) -> dict[str, set[str]]:
    """The records of the file that exist and that the key may see (by kind): those are
    updated, the others created. The ids no record holds are noted in the context, so that
    creating them needs no look-up each (those held by a record hidden from the key are
    refused by the create, as a single one would be)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        wanted[line.kind].add(line.record.id)
    found: dict[str, set[str]] = defaultdict(set)
    for kind, ids in wanted.items():
        model = record_kind(kind).model
        held = set(await session.scalars(select(model.id).where(one_of(model.id, ids))))
        context.vacant[kind] = ids - held
        visible = record_kind(kind).visible(context.principal)
        if visible is None:
            found[kind] = held
        else:
            statement = select(model.id).where(one_of(model.id, held), visible)
            found[kind] = set(await session.scalars(statement))
    return found


def _in_order(lines: Sequence[Line], existing: Mapping[str, set[str]]) -> list[Line]:
    """The lines in the order they can be written: kind by kind (`ORDER`), and within a kind
    each record after the records of the file it refers to that are still to be created (a
    source after the sources it relays), in file order otherwise.

    Records to be created that refer to one another in a cycle cannot be: a 422 names them.
    """
    ordered: list[Line] = []
    errors: list[FieldError] = []
    for kind in ORDER:
        of_kind = [line for line in lines if line.kind == kind]
        new = {line.record.id for line in of_kind} - existing.get(kind, set())
        waits_for: dict[str, dict[str, str]] = {}  # id -> {id it waits for: field}
        for line in of_kind:
            waits_for[line.record.id] = {
                target: field
                for field, target_kind, target in line.record.references()
                if target_kind == kind and target in new and target != line.record.id
            }
        by_id = {line.record.id: line for line in of_kind}
        dependents: dict[str, list[str]] = defaultdict(list)
        for record_id, targets in waits_for.items():
            for target in targets:
                dependents[target].append(record_id)
        remaining = {record_id: len(targets) for record_id, targets in waits_for.items()}
        ready = [(line.number, line.record.id) for line in of_kind if not remaining[line.record.id]]
        heapq.heapify(ready)
        while ready:
            _, record_id = heapq.heappop(ready)
            ordered.append(by_id[record_id])
            for dependent in dependents[record_id]:
                remaining[dependent] -= 1
                if not remaining[dependent]:
                    heapq.heappush(ready, (by_id[dependent].number, dependent))
        blocked = {record_id for record_id, count in remaining.items() if count}
        # Of the records left, those in a cycle: drop those nothing left waits for, until
        # every one left is waited for by another left.
        while True:
            waited = {t for record_id in blocked for t in waits_for[record_id] if t in blocked}
            if waited >= blocked:
                break
            blocked &= waited
        cycle = sorted((by_id[record_id] for record_id in blocked), key=lambda line: line.number)
        numbers = ", ".join(str(line.number) for line in cycle)
        for line in cycle:
            field = next(f for t, f in waits_for[line.record.id].items() if t in blocked)
            errors.append(
                _error(
                    line.number,
                    f"record.{field}",
                    f"the new records on lines {numbers} refer to one another in a cycle, so "
                    "none can be created first: import them without these references, then "
                    "with them",
                )
            )
    if errors:
        raise _problem(errors, max((line.number for line in lines), default=0))
    return ordered


def _at_line(error: ProblemError, line: Line, count: int) -> ProblemError:
    """A write's problem, named by the line of the record."""
    if error.status == 422 or error.code == "retracted":
        located = [
            _error(line.number, f"record.{e.name}" if e.name != "body" else "record", e.message)
            for e in error.errors or []
        ] or [_error(line.number, "record", error.detail)]
        return _problem(located, count)
    # A refusal (a 403, an id unavailable): answered as the single write would be, with the
    # line named.
    return ProblemError(
        error.status,
        error.code,
        error.detail,
        title=error.title,
        errors=[_error(line.number, "record.id", error.detail)],
        headers=error.headers,
    )


async def _write(
    session: AsyncSession,
    lines: Sequence[Line],
    count: int,
    context: WriteContext,
    progress: Progress | None,
) -> dict[str, dict[str, int]]:
    existing = await _look_up(session, context, lines)
    ordered = _in_order(lines, existing)
    tally: dict[str, dict[str, int]] = {
        outcome: defaultdict(int) for outcome in ("created", "updated", "unchanged")
    }
    # The rows written stay in the session, where the records after them find them.
    rows: list[EvidenceRecord] = []
    for line in ordered:
        kind: service.RecordKind[Any, Any] = record_kind(line.kind)
        written = len(context.written)
        try:
            if line.record.id in existing[line.kind]:
                # Whatever version is current (If-Match: *): the file is the record's new state.
                row = await service.update(
                    session, kind, line.record.id, line.record, "*", context, whole=True
                )
                outcome = "updated" if len(context.written) > written else "unchanged"
            else:
                row = await service.create(session, kind, line.record, context)
                outcome = "created"
        except ProblemError as error:
            raise _at_line(error, line, count) from None
        rows.append(row)
        tally[outcome][line.kind] += 1
        if progress is not None:
            progress("writing records", len(rows), len(ordered))
    await session.flush()
    return tally


async def run_import(
    session: AsyncSession,
    raw: bytes,
    context: WriteContext,
    *,
    dry_run: bool,
    progress: Progress | None = None,
    as_json: bool = False,
) -> tuple[ImportReport, list[str]]:
    """The report, and the records written as `type/id`, of NDJSON or (`as_json`) a JSON
    body; the writes are audited as one event (`context.batch`), unless it is a dry run.
    `progress` follows the writing and indexing."""
    context.batch = True
    lines, count = parse_json(raw) if as_json else parse(raw)
    known: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        known[line.kind].add(line.record.id)
    missing = await service.unknown_references(
        session, context.principal, [line.record for line in lines], known
    )
    if missing:
        errors = [
            _error(lines[index].number, f"record.{error.name}", error.message)
            for index, error in missing
        ]
        raise _problem(errors, count)
    await locks.hold_until_commit(session, locks.SEED_LOCK)  # imports and seed loads take turns
    savepoint = await session.begin_nested() if dry_run else None
    try:
        tally = await _write(session, lines, count, context, progress)
        # Searchable in the same transaction, whoever commits.
        await index_pending(session, progress)
    except IntegrityError:  # written together, the records meet the database's rules together
        raise ProblemError(
            409, "conflict", "A record with the same identifier (an id or a URL) exists."
        ) from None
    finally:
        if savepoint is not None and savepoint.is_active:
            await savepoint.rollback()
    if not dry_run:
        service.audit_written(session, context)
        count_imported(tally)
    report = ImportReport(
        dry_run=dry_run,
        created=dict(tally["created"]),
        updated=dict(tally["updated"]),
        unchanged=dict(tally["unchanged"]),
    )
    return report, [] if dry_run else list(context.written)
