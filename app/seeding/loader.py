"""Read, validate and load the seed files.

Loading is idempotent: a record whose data is unchanged is not written (its `updated_at`
stays), an edited record is updated, and a record in the database that the files no longer
list is reported, never deleted. Everything is validated before anything is written, and the
whole load is one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer

from app.changes.models import Revision
from app.changes.revisions import Action, Writer, field_changes, record_revision
from app.claims.models import Claim
from app.claims.repository import claim_input, save_claim
from app.claims.schemas import ClaimCreate
from app.db import locks
from app.db.base import EvidenceRecord
from app.facilities.models import Facility
from app.facilities.repository import facility_input, save_facility
from app.facilities.schemas import FacilityCreate
from app.kit.progress import Progress
from app.kit.schemas import SINGULAR, QuoteMismatchError, RecordIn, RecordStatus
from app.organizations.models import Organization
from app.organizations.repository import organization_input, save_organization
from app.organizations.schemas import OrganizationCreate
from app.rendering.indexing import index_pending
from app.sources.models import Source
from app.sources.quotes import QuotedSource, with_locators
from app.sources.repository import quoted_source, save_source, source_input
from app.sources.schemas import SourceCreate
from app.testimonies.models import Testimony
from app.testimonies.repository import save_testimony, testimony_input
from app.testimonies.schemas import TestimonyCreate

M = TypeVar("M", bound=RecordIn)
Input = TypeVar("Input", bound=RecordIn)
Row = TypeVar("Row", bound=EvidenceRecord)


class SeedError(Exception):
    """The seed files are not valid; nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass
class SeedData:
    organizations: list[OrganizationCreate]
    sources: list[SourceCreate]
    facilities: list[FacilityCreate]
    testimonies: list[TestimonyCreate]
    claims: list[ClaimCreate]

    def by_kind(self) -> dict[str, Sequence[RecordIn]]:
        return {
            "organizations": self.organizations,
            "sources": self.sources,
            "facilities": self.facilities,
            "testimonies": self.testimonies,
            "claims": self.claims,
        }


class SeedMode(StrEnum):
    """`missing`: create the records the database lacks and leave every existing one alone
    (what a start does). `update`: also bring existing records in line with the files, except
    those whose current revision someone other than the seed wrote."""

    missing = "missing"
    update = "update"


@dataclass(frozen=True)
class Difference:
    """An existing record that the seed files give otherwise."""

    record: str  # type/id
    written_by: str  # who wrote its current revision
    changes: dict[str, Any]  # field: {from, to}


@dataclass
class LoadReport:
    created: dict[str, list[str]] = field(default_factory=dict)
    updated: dict[str, list[str]] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    # In the database but no longer in the seed files: reported, left in place.
    unlisted: dict[str, list[str]] = field(default_factory=dict)
    # Existing records the files give otherwise, and were left as they are: all of them when
    # only missing records are loaded, those written by others when updating.
    kept: list[Difference] = field(default_factory=list)
    # Existing records brought in line with the files, and how.
    brought_in_line: list[Difference] = field(default_factory=list)
    mode: SeedMode = SeedMode.missing

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def lines(self) -> list[str]:
        lines = []
        for kind in ("organizations", "sources", "facilities", "testimonies", "claims"):
            lines.append(
                f"{kind}: {len(self.created.get(kind, []))} created, "
                f"{len(self.updated.get(kind, []))} updated, "
                f"{self.unchanged.get(kind, 0)} unchanged"
            )
            for record_id in self.unlisted.get(kind, []):
                lines.append(f"  not in the seed files (kept): {kind}/{record_id}")
        if self.kept:
            count = len(self.kept)
            records = "record differs" if count == 1 else "records differ"
            lines.append(
                f"{count} existing {records} from the seed files and left as written: "
                + (
                    "`testimony seed update` shows how"
                    if self.mode is SeedMode.missing
                    else "written by others, overwritten only with --force"
                )
            )
        return lines


def _read_records(path: Path, problems: list[str]) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        records = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as error:
        problems.append(f"{path.name}: not valid YAML: {error}")
        return []
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        problems.append(f"{path.name}: expected a list of records")
        return []
    return records


def _validate(
    path: Path,
    model: type[M],
    problems: list[str],
    prepare: Callable[[dict[str, Any], str], None] | None = None,
) -> list[M]:
    valid: list[M] = []
    seen: set[str] = set()
    for index, record in enumerate(_read_records(path, problems), start=1):
        label = f"{path.name} record {index} ({record.get('id', 'no id')})"
        try:
            if prepare is not None:
                prepare(record, label)
            item = model.model_validate(record)
        except ValidationError as error:
            for detail in error.errors():
                where = ".".join(str(part) for part in detail["loc"]) or "record"
                problems.append(f"{label}: {where}: {detail['msg']}")
            continue
        except ValueError as error:
            problems.append(f"{label}: {error}")
            continue
        record_id = item.id
        if record_id in seen:
            problems.append(f"{label}: duplicate id")
        seen.add(record_id)
        valid.append(item)
    return valid


SEED_FILES = tuple(f"{kind.name}.yaml" for kind in fields(SeedData))


def read_seed(seed_dir: Path) -> SeedData:
    """Parse and validate every seed file; SeedError lists every problem found. A folder
    holding none of them is an error too: a seed that is not there is never loaded as empty."""
    if not any((seed_dir / name).is_file() for name in SEED_FILES):
        raise SeedError([f"{seed_dir} holds no seed files ({', '.join(SEED_FILES)})"])
    problems: list[str] = []

    def attach_archive(record: dict[str, Any], label: str) -> None:
        # A source's archived copy is a file beside the seed data, read in as its text.
        archive_file = record.pop("archive_file", None)
        if archive_file is None:
            return
        path = seed_dir / archive_file
        if not path.is_file():
            raise ValueError(f"archive_file {archive_file!r} does not exist")
        raw = path.read_bytes()
        if record.get("archive_sha256") not in (None, hashlib.sha256(raw).hexdigest()):
            raise ValueError(f"archive_sha256 does not match {archive_file}")
        record["archived_text"] = raw.decode("utf-8")

    data = SeedData(
        organizations=_validate(seed_dir / "organizations.yaml", OrganizationCreate, problems),
        sources=_validate(seed_dir / "sources.yaml", SourceCreate, problems, attach_archive),
        facilities=_validate(seed_dir / "facilities.yaml", FacilityCreate, problems),
        testimonies=_validate(seed_dir / "testimonies.yaml", TestimonyCreate, problems),
        claims=_validate(seed_dir / "claims.yaml", ClaimCreate, problems),
    )
    problems.extend(_unresolved_references(data))
    if problems:
        raise SeedError(problems)
    return data


def _unresolved_references(data: SeedData) -> list[str]:
    """`type/id: field: problem` for each link to a record not in `data`."""
    records = data.by_kind()
    ids = {kind: {item.id for item in items} for kind, items in records.items()}
    return [
        f"{kind}/{item.id}: {field}: no {SINGULAR[target_kind]} has the id {target!r}"
        for kind, items in records.items()
        for item in items
        for field, target_kind, target in item.references()
        if target not in ids[target_kind]
    ]


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


class _Loader:
    """The seed's own batch path: it writes as the system, which may write every record, so
    it reads every record (to report those the files no longer list) and writes in bulk.
    Imports by API keys go through the single-write code instead (app/changes/imports.py)."""

    def __init__(
        self,
        session: AsyncSession,
        key_id: str | None,
        mode: SeedMode,
        *,
        force: bool,
        progress: Progress | None,
    ) -> None:
        self.session = session
        self.progress = progress
        self.key_id = key_id
        self.mode = mode
        self.force = force  # update records others wrote too
        self.report = LoadReport(mode=mode)
        self.problems: list[str] = []

    async def writers(self, kind: str, rows: Mapping[str, EvidenceRecord]) -> dict[str, str]:
        """Who wrote the current revision of each of these records of `kind`."""
        latest = select(Revision.record_id, Revision.written_by).where(
            Revision.record_type == kind,
            tuple_(Revision.record_id, Revision.revision).in_(
                [(row.id, row.version) for row in rows.values()]
            ),
        )
        return {record_id: writer for record_id, writer in await self.session.execute(latest)}

    async def sync(
        self,
        kind: str,
        items: Sequence[Input],
        query: Select[Row],
        as_input: Callable[[Row], BaseModel],
        create: Callable[[Input], Row],
        save: Callable[[Input, Row, dict[str, Row]], object],
        sources: Mapping[str, QuotedSource] | None = None,
    ) -> dict[str, Row]:
        """Bring one kind of record in line with the input: write only what differs."""
        rows: dict[str, Row] = {row.id: row for row in await self.session.scalars(query)}
        listed = {item.id for item in items}
        self.report.unlisted[kind] = sorted(set(rows) - listed)
        writers = await self.writers(kind, rows) if rows else {}
        changed = []
        before: dict[str, BaseModel] = {}
        for given in items:
            row = rows.get(given.id)
            try:
                item = with_locators(given, sources) if sources is not None else given
            except QuoteMismatchError as error:
                if row is None or self.mode is SeedMode.update:
                    self.problems.append(f"{kind}/{given.id}: {error}")
                    continue
                item = given  # an existing record is left alone; the difference is reported
            if row is not None:
                before[item.id] = as_input(row)
                if _dump(before[item.id]) == _dump(item):
                    self.report.unchanged[kind] = self.report.unchanged.get(kind, 0) + 1
                    continue
                writer = writers.get(item.id, Writer.seed)
                changes = field_changes(_dump(before[item.id]), _dump(item))
                difference = Difference(f"{kind}/{item.id}", writer, changes)
                if self.mode is SeedMode.missing or (writer != Writer.seed and not self.force):
                    self.report.kept.append(difference)
                    continue
                self.report.brought_in_line.append(difference)
            if row is not None and row.status is RecordStatus.retracted:
                self.problems.append(f"{kind}/{item.id}: it is retracted and cannot change")
                continue
            bucket = self.report.updated if row is not None else self.report.created
            bucket.setdefault(kind, []).append(item.id)
            changed.append(item)
        # New rows exist before any is saved, so that records of a kind can point at each
        # other (a source relaying a source listed after it).
        for item in changed:
            if item.id not in rows:
                rows[item.id] = create(item)
        for done, item in enumerate(changed, start=1):
            if self.progress is not None:
                self.progress(f"writing {kind}", done, len(changed))
            try:
                save(item, rows[item.id], rows)
            except QuoteMismatchError as error:
                self.problems.append(f"{kind}/{item.id}: {error}")
                continue
            previous = before.get(item.id)
            record_revision(
                self.session,
                kind,
                rows[item.id],
                action=Action.updated if previous is not None else Action.created,
                before=previous,
                after=item,
                key_id=self.key_id,
                written_by=Writer.seed,
            )
        await self.session.flush()
        return rows

    async def load(self, data: SeedData) -> LoadReport:
        session = self.session
        await self.sync(
            "organizations",
            data.organizations,
            select(Organization),
            organization_input,
            lambda item: Organization(id=item.id),
            lambda item, row, _: save_organization(session, item, row),
        )
        sources = await self.sync(
            "sources",
            data.sources,
            select(Source).options(undefer(Source.archived_text), selectinload(Source.relays)),
            source_input,
            lambda item: Source(id=item.id, relays=[]),
            lambda item, row, rows: save_source(session, item, row, [rows[r] for r in item.relays]),
        )
        texts = {source.id: quoted_source(source) for source in sources.values()}
        facilities = await self.sync(
            "facilities",
            data.facilities,
            select(Facility).options(
                selectinload(Facility.aliases), selectinload(Facility.mentions)
            ),
            facility_input,
            lambda item: Facility(id=item.id, aliases=[], mentions=[]),
            lambda item, row, _: save_facility(session, item, row, texts),
            texts,
        )
        await self.sync(
            "testimonies",
            data.testimonies,
            select(Testimony).options(
                selectinload(Testimony.facilities), selectinload(Testimony.excerpts)
            ),
            testimony_input,
            lambda item: Testimony(id=item.id, facilities=[], excerpts=[]),
            lambda item, row, _: save_testimony(
                session, item, row, [facilities[f] for f in item.facilities], texts
            ),
            texts,
        )
        await self.sync(
            "claims",
            data.claims,
            select(Claim),
            claim_input,
            lambda item: Claim(id=item.id),
            lambda item, row, _: save_claim(session, item, row, texts),
            texts,
        )
        if self.problems:
            raise SeedError(self.problems)
        return self.report


async def load_seed(
    session: AsyncSession,
    data: SeedData,
    key_id: str | None = None,
    mode: SeedMode = SeedMode.missing,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Write the seed into the session's transaction (see `SeedMode`; `force` lets an update
    overwrite records others wrote); the caller commits, or rolls back on SeedError (a quote
    that does not stand at its locator in its archived source). `progress` follows the
    records written and indexed."""
    await locks.hold_until_commit(session, locks.SEED_LOCK)
    report = await _Loader(session, key_id, mode, force=force, progress=progress).load(data)
    # Searchable in the same transaction, whoever commits.
    await index_pending(session, progress)
    return report
