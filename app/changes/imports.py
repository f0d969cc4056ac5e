"""Bulk import: NDJSON, one typed record per line, all or nothing in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.changes.service import MODELS
from app.claims.schemas import ClaimCreate
from app.facilities.schemas import FacilityCreate
from app.kit.errors import FieldError, ProblemError
from app.kit.limits import too_deep, too_deep_message
from app.kit.listing import one_of
from app.kit.schemas import RecordIn
from app.organizations.schemas import OrganizationCreate
from app.seeding.loader import SeedData, SeedError, load_records, unresolved_references
from app.sources.schemas import SourceCreate
from app.testimonies.schemas import TestimonyCreate

# The `type` of a line, and the kind of record and schema it names.
TYPES: dict[str, tuple[str, type[RecordIn]]] = {
    "organization": ("organizations", OrganizationCreate),
    "source": ("sources", SourceCreate),
    "facility": ("facilities", FacilityCreate),
    "testimony": ("testimonies", TestimonyCreate),
    "claim": ("claims", ClaimCreate),
}
MAX_REPORTED = 200


class ImportReport(BaseModel):
    dry_run: bool = Field(description="True when nothing was written.")
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]


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


def parse(raw: bytes) -> tuple[SeedData, dict[tuple[str, str], int]]:
    """Every line validated; a 422 listing each bad line and field when any is wrong."""
    grouped: dict[str, list[Any]] = {kind: [] for kind, _ in TYPES.values()}
    lines: dict[tuple[str, str], int] = {}
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
            envelope = json.loads(text)
        except ValueError as error:  # not JSON, or a number too long to convert
            errors.append(_error(number, "line", f"not JSON: {getattr(error, 'msg', error)}"))
            continue
        if not isinstance(envelope, dict) or set(envelope) != {"type", "record"}:
            errors.append(_error(number, "line", 'expected {"type": ..., "record": {...}}'))
            continue
        if envelope["type"] not in TYPES:
            errors.append(_error(number, "type", f"one of {', '.join(TYPES)}"))
            continue
        kind, schema = TYPES[envelope["type"]]
        try:
            record = schema.model_validate(envelope["record"])
        except ValidationError as error:
            for detail in error.errors():
                field = ".".join(str(part) for part in detail["loc"]) or "record"
                errors.append(_error(number, f"record.{field}", detail["msg"]))
            continue
        if (kind, record.id) in lines:
            first = lines[(kind, record.id)]
            errors.append(_error(number, "record.id", f"already given on line {first}"))
            continue
        lines[(kind, record.id)] = number
        grouped[kind].append(record)
    if errors:
        raise _problem(errors, count)
    return SeedData(**grouped), lines


async def _existing(session: AsyncSession, data: SeedData) -> dict[str, set[str]]:
    """The records the data links to that exist already."""
    wanted: dict[str, set[str]] = {kind: set() for kind in MODELS}
    for items in data.by_kind().values():
        for item in items:
            for _, kind, target in item.references():
                wanted[kind].add(target)
    found: dict[str, set[str]] = {}
    for kind, ids in wanted.items():
        model = MODELS[kind]
        found[kind] = set(await session.scalars(select(model.id).where(one_of(model.id, ids))))
    return found


def _located(problems: Sequence[str], lines: dict[tuple[str, str], int]) -> list[FieldError]:
    located = []
    for problem in problems:
        record, _, message = problem.partition(": ")
        kind, _, record_id = record.partition("/")
        located.append(_error(lines.get((kind, record_id), 0), "record", message))
    return located


async def run_import(
    session: AsyncSession, raw: bytes, key_id: str | None, *, dry_run: bool
) -> tuple[ImportReport, list[str]]:
    """The report, and the records written as `type/id`."""
    data, lines = parse(raw)
    missing = unresolved_references(data, await _existing(session, data))
    if missing:
        errors = [
            _error(lines[(kind, record_id)], f"record.{problem.split(':')[0]}", problem)
            for kind, record_id, problem in missing
        ]
        raise _problem(errors, max(lines.values(), default=0))
    savepoint = await session.begin_nested() if dry_run else None
    try:
        report = await load_records(session, data, key_id, partial=True)
    except SeedError as error:
        raise _problem(_located(error.problems, lines), max(lines.values(), default=0)) from None
    finally:
        if savepoint is not None:
            await savepoint.rollback()
    written = [
        f"{kind}/{record_id}"
        for bucket in (report.created, report.updated)
        for kind, ids in bucket.items()
        for record_id in ids
    ]
    summary = ImportReport(
        dry_run=dry_run,
        created={kind: len(ids) for kind, ids in report.created.items() if ids},
        updated={kind: len(ids) for kind, ids in report.updated.items() if ids},
        unchanged={kind: n for kind, n in report.unchanged.items() if n},
    )
    return summary, [] if dry_run else written
