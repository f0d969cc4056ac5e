"""Releases: a versioned snapshot of the data, for publication and reproducible figures.

Per record type an NDJSON file, each record exactly as the API presents it to a client of the
release's tier (anonymous by default), and the same records as the CSV export's flat table,
all read in one REPEATABLE READ transaction; a `datapackage.json` that describes them as a
Frictionless Data Package (a Table Schema per CSV file, the licence, the version); and a
`manifest.json` that names the version, the time, the database schema revision, the tier and,
per file, its size, record count and SHA-256. The files are written to a hidden folder beside
the target and renamed into place at the end, so a release is either whole or absent.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import DATA_LICENSE
from app.audit import repository as audit
from app.audit.schemas import AuditAction
from app.auth.dependencies import Viewer
from app.auth.scopes import Principal, Scope
from app.claims.router import EXPORT as CLAIMS
from app.claims.schemas import ClaimQuery
from app.exports.exporter import (
    CSV,
    CSV_LINES,
    NDJSON,
    NDJSON_LINES,
    ListExport,
    StreamSessions,
    export_lines,
)
from app.facilities.router import EXPORT as FACILITIES
from app.facilities.schemas import FacilityQuery
from app.kit.citing import Citer
from app.kit.pagination import Cursors
from app.kit.params import ListQuery
from app.kit.progress import Progress
from app.kit.protection import ProtectionLevel
from app.kit.tables import table_schema
from app.organizations.router import EXPORT as ORGANIZATIONS
from app.organizations.schemas import OrganizationQuery
from app.sources.router import EXPORT as SOURCES
from app.sources.schemas import SourceQuery
from app.testimonies.router import EXPORT as TESTIMONIES
from app.testimonies.schemas import TestimonyQuery

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "testimony-api release 2"
DATA_PACKAGE = "datapackage.json"
# The data package's statement of DATA_LICENSE; LICENSE-data.md says what it covers.
PACKAGE_LICENSE = {
    "name": DATA_LICENSE,
    "title": "Creative Commons Attribution 4.0 International",
    "path": "https://creativecommons.org/licenses/by/4.0/",
}
# Each list with the query of its default view (the first page of `GET /v1/{plural}`).
RELEASED: Sequence[tuple[ListExport[Any, Any], type[ListQuery]]] = [
    (ORGANIZATIONS, OrganizationQuery),
    (SOURCES, SourceQuery),
    (FACILITIES, FacilityQuery),
    (TESTIMONIES, TestimonyQuery),
    (CLAIMS, ClaimQuery),
]
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SCOPES = {
    ProtectionLevel.public: frozenset[Scope](),
    ProtectionLevel.restricted: frozenset({Scope.read_restricted}),
    ProtectionLevel.confidential: frozenset({Scope.read_confidential}),
}


class ReleaseError(Exception):
    """A release that cannot be made or does not verify; the message says why."""


@dataclass(frozen=True)
class ReleaseFile:
    name: str
    records: int | None  # None for a file that holds no records (the data package)
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    version: str
    created_at: str
    schema_revision: str
    tier: str
    base_url: str
    include_retracted: bool
    files: list[ReleaseFile]
    format: str = MANIFEST_FORMAT
    license: str = DATA_LICENSE  # of the records (SPDX); see LICENSE-data.md

    def to_json(self) -> str:
        fields = asdict(self)
        document = {"format": fields.pop("format"), "license": fields.pop("license")} | fields
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def default_version(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise ReleaseError(
            f"the version {version!r} must be 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return version


def check_target(directory: Path) -> None:
    """A release goes to a new folder, or an empty one: it never mixes with other files."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ReleaseError(
            f"{directory} already exists and is not an empty folder; choose a new one "
            "(a release is never written over another)"
        )


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _HashedFile:
    """A file of the release being written, its size and SHA-256 kept as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._digest = hashlib.sha256()
        self._bytes = 0

    def write(self, text: str) -> None:
        chunk = text.encode()
        self._file.write(chunk)
        self._digest.update(chunk)
        self._bytes += len(chunk)

    def done(self, records: int | None) -> ReleaseFile:
        self._file.flush()
        os.fsync(self._file.fileno())
        return ReleaseFile(self.path.name, records, self._bytes, self._digest.hexdigest())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._file.close()


async def _write_files(
    session: AsyncSession,
    folder: Path,
    export: ListExport[Any, Any],
    query: ListQuery,
    citer: Citer,
    viewer: Viewer,
    progress: Progress | None,
) -> list[ReleaseFile]:
    """The list's records as NDJSON and as CSV, read once."""
    lines = [
        NDJSON_LINES.line(citer, export.schema, export.live),
        CSV_LINES.line(citer, export.schema, export.live),
    ]
    count = 0
    cursors = Cursors(secrets.token_hex(16))  # cursors between batches never leave this run
    batches = export_lines(export, query, session, cursors, lines, viewer)
    async with aclosing(batches):
        with (
            _HashedFile(folder / f"{export.name}.{NDJSON.extension}") as ndjson_file,
            _HashedFile(folder / f"{export.name}.{CSV.extension}") as csv_file,
        ):
            csv_file.write(CSV_LINES.head(export.schema))
            async for batch in batches:
                ndjson_lines, csv_lines = batch.texts
                ndjson_file.write(ndjson_lines)
                csv_file.write(csv_lines)
                count += batch.count
                if progress is not None:
                    progress(f"writing {export.name}", count, None)
            return [ndjson_file.done(count), csv_file.done(count)]


def data_package(
    files: Sequence[ReleaseFile], *, version: str, created: str, base_url: str, tier: str
) -> dict[str, Any]:
    """The release as a Frictionless Data Package: one resource per file, with its size and
    hash; each CSV file a table with the Table Schema of its list's output model."""
    schemas = {export.name: export.schema for export, _ in RELEASED}
    resources: list[dict[str, Any]] = []
    for file in files:
        plural, _, extension = file.name.partition(".")
        resource: dict[str, Any] = {"path": file.name}
        if extension == CSV.extension:
            resource |= {
                "name": plural,
                "type": "table",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": CSV.media_type,
            }
        else:
            resource |= {
                "name": f"{plural}-{extension}",
                "type": "file",
                "profile": "data-resource",
                "format": extension,
                "mediatype": NDJSON.media_type,
            }
        resource |= {
            "title": f"{plural.capitalize()} ({extension.upper()})",
            "description": f"Every record of `GET /v1/{plural}`, as a client of the "
            f"{tier} tier is shown it"
            + (
                ": the CSV export's flat columns, one row per record."
                if extension == CSV.extension
                else ", one JSON object per line."
            ),
            "encoding": "utf-8",
            "bytes": file.bytes,
            "hash": f"sha256:{file.sha256}",
        }
        if extension == CSV.extension:
            resource["schema"] = table_schema(schemas[plural])
        resources.append(resource)
    return {
        "profile": "data-package",
        "name": "testimony-api",
        "title": f"testimony-api release {version}",
        "description": "Evidence of forced labour in North Korea from open sources: "
        "organizations, sources, facilities, testimonies and quantitative claims, each with "
        "the quotes it rests on. The records are licensed CC BY 4.0; the quotes in them are "
        "the cited sources' own words, quoted with their source (see the project's "
        "LICENSE-data.md).",
        "version": version,
        "created": created,
        "licenses": [PACKAGE_LICENSE],
        "sources": [{"title": "testimony-api", "path": base_url}],
        "keywords": ["north korea", "forced labour", "human rights", "testimony"],
        "resources": resources,
    }


async def create_release(
    sessions: StreamSessions,
    directory: Path,
    *,
    tier: ProtectionLevel,
    version: str,
    base_url: str,
    expected_revision: str | None,
    include_retracted: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Write the release to `directory` (new or empty). Data above the public tier is
    recorded in the audit trail before the release is put in place. `progress` counts the
    records written of each type."""
    check_version(version)
    check_target(directory)
    now = now or datetime.now(UTC)
    principal = Principal(key_id=None, scopes=_SCOPES[tier], address="cli")
    viewer = Viewer(principal)
    citer = Citer(base_url.rstrip("/"), now.date())
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.{secrets.token_hex(4)}.partial"
    staging.mkdir()
    try:
        async with sessions.snapshot() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
            if revision is None or revision != expected_revision:
                raise ReleaseError(
                    f"the database schema is at {revision}, this code expects "
                    f"{expected_revision}; run `testimony db upgrade` first"
                )
            files = []
            for export, query_model in RELEASED:
                query = query_model(include_retracted=include_retracted)
                files += await _write_files(
                    session, staging, export, query, citer, viewer, progress
                )
        created = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
        package = data_package(
            files, version=version, created=created, base_url=citer.base_url, tier=tier.value
        )
        with _HashedFile(staging / DATA_PACKAGE) as package_file:
            package_file.write(json.dumps(package, indent=2, ensure_ascii=False) + "\n")
            files.append(package_file.done(None))
        manifest = Manifest(
            version=version,
            created_at=created,
            schema_revision=revision,
            tier=tier.value,
            base_url=citer.base_url,
            include_retracted=include_retracted,
            files=files,
        )
        (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        _fsync(staging / MANIFEST)
        if tier is not ProtectionLevel.public:
            async with sessions.audit() as session:
                audit.record(
                    session,
                    key_id=None,
                    action=AuditAction.read_confidential
                    if tier is ProtectionLevel.confidential
                    else AuditAction.read_restricted,
                    method="CLI",
                    route="testimony export release",
                    path=f"testimony export release {directory} (version {version})",
                    records=viewer.disclosed,
                )
        check_target(directory)  # nothing appeared there meanwhile
        staging.rename(directory)
        _fsync(directory.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _count_records(path: Path) -> tuple[int | None, str | None]:
    """The records of a release file (rows of a CSV file under its header, lines of an NDJSON
    file; None for a JSON document), and the first problem with them."""
    if path.suffix == f".{CSV.extension}":
        with path.open(encoding="utf-8", newline="") as text:
            try:
                rows = sum(1 for _ in csv.reader(text))
            except (csv.Error, UnicodeDecodeError) as error:
                return 0, f"not CSV: {error}"
        return max(rows - 1, 0), None
    if path.suffix == ".json":
        try:
            if not isinstance(json.loads(path.read_bytes()), dict):
                return None, "not a JSON object"
        except ValueError:
            return None, "not JSON"
        return None, None
    count = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                if not isinstance(json.loads(line), dict):
                    return count, f"line {number} is not a JSON object"
            except ValueError:
                return count, f"line {number} is not JSON"
            count += 1
    return count, None


def verify_release(directory: Path) -> tuple[dict[str, Any], list[str]]:
    """The manifest, and every way the folder differs from it (none: it verifies)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        entries = manifest["files"]
        listed = {entry["name"]: entry for entry in entries}
    except (OSError, ValueError, KeyError, TypeError) as error:
        return {}, [f"{directory / MANIFEST} cannot be read as a release manifest: {error}"]
    problems: list[str] = []
    for name, entry in listed.items():
        path = directory / name
        if Path(name).name != name or name in ("", ".", "..", MANIFEST):
            problems.append(f"the manifest names {name!r}, which is not a file of the release")
            continue
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        digest = hashlib.sha256()
        with path.open("rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                digest.update(block)
        size = path.stat().st_size
        if size != entry.get("bytes"):
            problems.append(f"{name}: {size} bytes, the manifest says {entry.get('bytes')}")
        if digest.hexdigest() != entry.get("sha256"):
            problems.append(
                f"{name}: SHA-256 {digest.hexdigest()}, the manifest says {entry.get('sha256')}"
            )
        count, broken = _count_records(path)
        if broken:
            problems.append(f"{name}: {broken}")
        elif count != entry.get("records"):
            problems.append(f"{name}: {count} records, the manifest says {entry.get('records')}")
    for path in sorted(directory.iterdir()):
        if path.name != MANIFEST and path.name not in listed:
            problems.append(f"{path.name}: not in the manifest")
    return manifest, problems
