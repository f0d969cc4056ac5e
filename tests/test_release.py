"""Releases: an NDJSON and a CSV file per record type from one snapshot, as the API shows them,
described by a Frictionless Data Package, with a manifest that `testimony export verify`
checks."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import frictionless
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from typer.testing import CliRunner

from app.audit.models import AuditEvent
from app.cli import cli
from app.kit.protection import ProtectionLevel
from app.kit.tables import table_schema
from app.releases import DATA_PACKAGE, MANIFEST, RELEASED, Manifest, ReleaseError, create_release
from tests import factories
from tests.conftest import SavepointSessions
from tests.test_exports import csv_rows, protected_corpus, walk

PLURALS = ["organizations", "sources", "facilities", "testimonies", "claims"]
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
FILES = [f"{plural}.{extension}" for plural in PLURALS for extension in ("ndjson", "csv")]


async def release(
    app: FastAPI,
    session: AsyncSession,
    directory: Path,
    tier: ProtectionLevel = ProtectionLevel.public,
    **options: Any,
) -> Manifest:
    """A release of what the test's session sees, with the test client's permalinks."""
    return await create_release(
        SavepointSessions(session),
        directory,
        tier=tier,
        version=options.pop("version", "test-1"),
        base_url="http://testserver",
        expected_revision=options.pop("expected_revision", app.state.head_revision),
        now=datetime.now(UTC),
        **options,
    )


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as text:
        return list(csv.DictReader(text))


def run_cli(*arguments: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(arguments), env=env)


async def release_events(session: AsyncSession) -> list[AuditEvent]:
    events = await session.scalars(
        select(AuditEvent).where(AuditEvent.route == "testimony export release")
    )
    return list(events)


async def test_a_release_is_what_the_api_shows_anonymous_clients(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    await protected_corpus(session)
    target = tmp_path / "release"
    manifest = await release(app, session, target)

    assert sorted(p.name for p in target.iterdir()) == sorted([MANIFEST, DATA_PACKAGE, *FILES])
    written = json.loads((target / MANIFEST).read_text())
    revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    assert written["format"] == "testimony-api release 2"
    assert written["version"] == "test-1"
    assert written["schema_revision"] == revision == app.state.head_revision
    assert written["tier"] == "public"
    assert written["base_url"] == "http://testserver"
    assert datetime.fromisoformat(written["created_at"]).tzinfo is not None
    assert [entry["name"] for entry in written["files"]] == [*FILES, DATA_PACKAGE]
    assert written == json.loads(manifest.to_json())

    entries = {entry["name"]: entry for entry in written["files"]}
    for name, entry in entries.items():
        content = (target / name).read_bytes()
        assert entry["bytes"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert entries[DATA_PACKAGE]["records"] is None
    for plural in PLURALS:
        records = read_ndjson(target / f"{plural}.ndjson")
        assert entries[f"{plural}.ndjson"]["records"] == len(records)
        assert records == await walk(client, f"/v1/{plural}?limit=2"), plural
        rows = read_csv(target / f"{plural}.csv")  # the CSV export's rows, from the snapshot
        assert entries[f"{plural}.csv"]["records"] == len(rows)
        assert rows == csv_rows(await client.get(f"/v1/{plural}?format=csv")), plural

    testimonies = {t["id"]: t for t in read_ndjson(target / "testimonies.ndjson")}
    assert set(testimonies) == {"kim", "open"}  # the confidential one is not there
    assert testimonies["kim"]["disclosure"]["coarsened"] is True
    assert testimonies["kim"]["county"] is None
    claims = {c["id"] for c in read_ndjson(target / "claims.ndjson")}
    assert claims == {"kim-age", "public"}
    assert await release_events(session) == []  # public data is not audited


def validate(descriptor: Path) -> frictionless.Report:
    return frictionless.validate(str(descriptor))


async def test_a_release_is_a_valid_frictionless_data_package(
    app: FastAPI, session: AsyncSession, tmp_path: Path
) -> None:
    await protected_corpus(session)
    await factories.organization(session, id="tricky", name="=1+1", aliases=["+KCNA"])
    target = tmp_path / "release"
    manifest = await release(app, session, target, version="2026.11")
    package = json.loads((target / DATA_PACKAGE).read_text())
    assert package["name"] == "testimony-api"
    assert package["version"] == "2026.11"
    assert package["created"] == manifest.created_at
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert package["sources"] == [{"title": "testimony-api", "path": "http://testserver"}]
    resources = {resource["path"]: resource for resource in package["resources"]}
    assert sorted(resources) == sorted(FILES)  # one per file; the manifest is not one

    report = await asyncio.to_thread(validate, target / DATA_PACKAGE)
    assert report.valid, report.flatten(["resourceName", "rowNumber", "fieldName", "note"])
    checked = {task.name: task for task in report.tasks}
    entries = {entry.name: entry for entry in manifest.files}
    for export, _ in RELEASED:
        table = resources[f"{export.name}.csv"]
        assert table["name"] == export.name
        assert table["schema"] == table_schema(export.schema)
        assert table["schema"]["primaryKey"] == ["id"]
        assert table["hash"] == f"sha256:{entries[table['path']].sha256}"
        # Every row read, typed and checked against the schema (and the header with it).
        assert checked[export.name].type == "table"
        assert checked[export.name].stats["rows"] == entries[table["path"]].records
        lines = resources[f"{export.name}.ndjson"]
        assert (lines["name"], lines["mediatype"]) == (
            f"{export.name}-ndjson",
            "application/x-ndjson",
        )
    claims = {f["name"]: f for f in resources["claims.csv"]["schema"]["fields"]}
    assert claims["value"]["type"] == "number"
    assert claims["citations.source.id"]["type"] == "string"
    assert claims["citations.locator.char_start"]["type"] == "integer"
    assert claims["created_at"]["type"] == "datetime"
    assert claims["metric"]["constraints"]["enum"][0] == "persons_count"

    # A value its column's type does not allow, and a changed file, do not validate.
    claims_csv = target / "claims.csv"
    content = claims_csv.read_text(encoding="utf-8")
    claims_csv.write_text(content.replace(",700,", ",many,"), encoding="utf-8")
    broken = await asyncio.to_thread(validate, target / DATA_PACKAGE)
    assert not broken.valid
    assert {error[0] for error in broken.flatten(["type"])} >= {"type-error", "hash-count"}


async def test_a_release_above_public_warns_and_is_audited(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    await protected_corpus(session)
    key = await factories.api_key(session, "read:restricted")
    await release(app, session, tmp_path / "restricted", ProtectionLevel.restricted)
    testimonies = read_ndjson(tmp_path / "restricted" / "testimonies.ndjson")
    assert testimonies == await walk(client, "/v1/testimonies", headers=key)
    assert next(t for t in testimonies if t["id"] == "kim")["county"] == "Hoeryong"
    (event,) = await release_events(session)
    assert event.action == "read_restricted"
    assert event.method == "CLI"
    assert event.key_id is None
    assert "testimonies/kim" in event.records
    assert "claims/kim-age" in event.records

    await release(app, session, tmp_path / "confidential", ProtectionLevel.confidential)
    testimonies = read_ndjson(tmp_path / "confidential" / "testimonies.ndjson")
    assert {t["id"] for t in testimonies} == {"kim", "open", "park"}
    events = await release_events(session)
    assert sorted(e.action for e in events) == ["read_confidential", "read_restricted"]


async def test_verify_detects_a_tampered_release(
    app: FastAPI, session: AsyncSession, tmp_path: Path
) -> None:
    await protected_corpus(session)
    target = tmp_path / "release"
    await release(app, session, target)
    verified = run_cli("export", "verify", str(target))
    assert verified.exit_code == 0, verified.output
    assert "release test-1 verified, 11 files" in verified.stdout

    claims = target / "claims.ndjson"
    original = claims.read_bytes()
    claims.write_bytes(original.replace(b'"value":700', b'"value":900'))  # same size
    tampered = run_cli("export", "verify", str(target))
    assert tampered.exit_code == 1
    assert "claims.ndjson: SHA-256" in tampered.output
    assert "bytes" not in tampered.output

    claims.write_bytes(original + original.splitlines(keepends=True)[0])
    grown = run_cli("export", "verify", str(target))
    assert grown.exit_code == 1
    assert "claims.ndjson: 3 records, the manifest says 2" in grown.output
    assert "bytes, the manifest says" in grown.output

    claims.write_bytes(original)
    (target / "sources.ndjson").unlink()
    (target / "extra.csv").write_text("id\n")
    changed = run_cli("export", "verify", str(target))
    assert changed.exit_code == 1
    assert "sources.ndjson: missing" in changed.output
    assert "extra.csv: not in the manifest" in changed.output

    table = target / "organizations.csv"
    listed = len(read_csv(table))
    table.write_bytes(table.read_bytes() + b"extra,row\r\n")
    (target / DATA_PACKAGE).write_text("[]")
    edited = run_cli("export", "verify", str(target))
    assert edited.exit_code == 1
    assert "organizations.csv: SHA-256" in edited.output
    assert f"organizations.csv: {listed + 1} records, the manifest says {listed}" in edited.output
    assert "datapackage.json: not a JSON object" in edited.output

    (target / MANIFEST).write_text("{not json")
    broken = run_cli("export", "verify", str(target))
    assert broken.exit_code == 1
    assert "cannot be read as a release manifest" in broken.output


async def test_nothing_is_half_written_and_no_release_goes_over_another(
    app: FastAPI, session: AsyncSession, tmp_path: Path
) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="not an empty folder"):
        await release(app, session, occupied)
    refused = run_cli("export", "release", str(occupied))
    assert refused.exit_code == 1
    assert "no release was written" in refused.output
    assert "not an empty folder" in refused.output
    assert (occupied / "notes.txt").read_text() == "mine"

    with pytest.raises(ReleaseError, match="run `testimony db upgrade`"):
        await release(app, session, tmp_path / "failed", expected_revision="0000")
    with pytest.raises(ReleaseError, match="version"):
        await release(app, session, tmp_path / "failed", version="../up")
    left = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert left == ["occupied"]  # nothing half-written is left behind

    empty = tmp_path / "empty"
    empty.mkdir()
    await release(app, session, empty)  # an empty folder is as good as a new one
    assert (empty / MANIFEST).exists()


async def test_release_command_reads_one_committed_snapshot(
    database_url: URL,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "PUBLIC_BASE_URL": "http://testserver",
    }
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO organizations (id, name, kind) "
                "SELECT 'release-org-' || n, 'Organization ' || n, 'ngo' "
                "FROM generate_series(1, 7) AS n"
            )
        )
        await factories.render_missing(connection)
    try:
        target = tmp_path / "v1"
        result = await asyncio.to_thread(
            run_cli, "export", "release", str(target), "--version", "v1", env=env
        )
        assert result.exit_code == 0, result.output
        assert "release v1 (public) written to" in result.output
        assert "organizations.ndjson\t7 records" in result.output
        manifest = json.loads((target / MANIFEST).read_text())
        entries = {entry["name"]: entry for entry in manifest["files"]}
        for plural in PLURALS:
            listed = await walk(client, f"/v1/{plural}?limit=200")
            assert entries[f"{plural}.ndjson"]["records"] == len(listed), plural
            assert entries[f"{plural}.csv"]["records"] == len(listed), plural
            assert read_ndjson(target / f"{plural}.ndjson") == listed, plural
        assert "organizations.csv\t7 records" in result.output
        assert "datapackage.json\t\t" in result.output
        assert run_cli("export", "verify", str(target)).exit_code == 0

        loud = await asyncio.to_thread(
            run_cli, "export", "release", str(tmp_path / "v2"), "--tier", "restricted", env=env
        )
        assert loud.exit_code == 0, loud.output
        assert "WARNING: this release holds RESTRICTED data" in loud.output
        manifest = json.loads((tmp_path / "v2" / MANIFEST).read_text())
        assert manifest["tier"] == "restricted"
        assert len(await release_events(session)) == 1  # committed by the command
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM audit_events WHERE route = 'testimony export release'")
            )
            await factories.remove_committed(connection, "organizations", "release-org-%")
