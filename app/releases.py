"""Releases: a versioned snapshot of the data, for publication and reproducible figures.

One NDJSON file per record type, each record exactly as the API presents it to a client of
the release's tier (anonymous by default), all read in one REPEATABLE READ transaction, and a
`manifest.json` that names the version, the time, the database schema revision, the tier and,
per file, its size, record count and SHA-256. The files are written to a hidden folder beside
the target and renamed into place at the end, so a release is either whole or absent.
"""

from __future__ import annotations

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
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import DATA_LICENSE
from app.audit import repository as audit
from app.audit.schemas import AuditAction
from app.auth.dependencies import Viewer
from app.auth.scopes import Principal, Scope
from app.claims.router import EXPORT as CLAIMS
from app.claims.schemas import ClaimQuery
from app.facilities.router import EXPORT as FACILITIES
from app.facilities.schemas import FacilityQuery
from app.kit.citing import Citer
from app.kit.exports import ListExport, NdjsonWriter, StreamSessions, export_batches
from app.kit.pagination import Cursors
from app.kit.params import ListQuery
from app.kit.progress import Progress
from app.kit.protection import ProtectionLevel
from app.organizations.router import EXPORT as ORGANIZATIONS
from app.organizations.schemas import OrganizationQuery
from app.sources.router import EXPORT as SOURCES
from app.sources.schemas import SourceQuery
from app.testimonies.router import EXPORT as TESTIMONIES
from app.testimonies.schemas import TestimonyQuery

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "testimony-api release 1"
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
    records: int
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


async def _write_file(
    session: AsyncSession,
    path: Path,
    export: ListExport[Any, Any],
    query: ListQuery,
    citer: Citer,
    viewer: Viewer,
    progress: Progress | None,
) -> ReleaseFile:
    writer = NdjsonWriter()
    digest, size, count = hashlib.sha256(), 0, 0
    cursors = Cursors(secrets.token_hex(16))  # cursors between batches never leave this run
    batches = export_batches(export, query, session, cursors, citer, viewer)
    async with aclosing(batches):
        with path.open("wb") as out:
            async for records in batches:
                chunk = writer.write(records).encode()
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                count += len(records)
                if progress is not None:
                    progress(f"writing {path.name}", count, None)
            out.flush()
            os.fsync(out.fileno())
    return ReleaseFile(path.name, count, size, digest.hexdigest())


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
    records written to each file."""
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
                path = staging / f"{export.name}.ndjson"
                files.append(
                    await _write_file(session, path, export, query, citer, viewer, progress)
                )
        manifest = Manifest(
            version=version,
            created_at=now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
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


def _count_records(path: Path) -> tuple[int, str | None]:
    """Lines of an NDJSON file, and the first problem with them."""
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
