"""Bulk import: NDJSON, all or nothing, errors by line and field."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from typer.testing import CliRunner

from app.cli import cli
from app.db.engine import get_session
from app.main import create_app
from tests import factories
from tests.conftest import app_settings

NDJSON = {"Content-Type": "application/x-ndjson"}
TEXT = "KCNA said 700 orphans volunteered."


def ndjson(*lines: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode() + b"\n"


RECORDS = [
    {"type": "organization", "record": {"id": "kcna", "name": "KCNA", "kind": "state_media"}},
    # Order in the file does not matter: this claim comes before its source.
    {
        "type": "claim",
        "record": {
            "id": "orphans",
            "statement": "KCNA claims 700 orphans volunteered.",
            "metric": "persons_count",
            "value": 700,
            "unit": "persons",
            "claimant_organization": "kcna",
            "source": "report",
            "quote": "700 orphans volunteered",
        },
    },
    {
        "type": "source",
        "record": {
            "id": "report",
            "title": "Report",
            "source_type": "news_report",
            "archived_text": TEXT,
        },
    },
]


@pytest.fixture
async def writer(session: AsyncSession) -> dict[str, str]:
    return await factories.api_key(session, "write") | NDJSON


async def test_import_creates_everything_and_reports_counts(
    client: httpx.AsyncClient, writer: dict[str, str], session: AsyncSession
) -> None:
    response = await client.post("/v1/import", content=ndjson(*RECORDS), headers=writer)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "dry_run": False,
        "created": {"organizations": 1, "sources": 1, "claims": 1},
        "updated": {},
        "unchanged": {},
    }
    claim = (await client.get("/v1/claims/orphans")).json()
    assert claim["citations"][0]["locator"] == {"char_start": 10, "char_end": 33}
    assert claim["state"]["version"] == 1
    again = await client.post("/v1/import", content=ndjson(*RECORDS), headers=writer)
    assert again.json()["unchanged"] == {"organizations": 1, "sources": 1, "claims": 1}
    changed = [
        RECORDS[0] | {"record": RECORDS[0]["record"] | {"name": "Korean Central News Agency"}}
    ]
    updated = await client.post("/v1/import", content=ndjson(*changed), headers=writer)
    assert updated.json()["updated"] == {"organizations": 1}
    history = (await client.get("/v1/organizations/kcna/revisions")).json()["data"]
    assert [r["action"] for r in history] == ["created", "updated"]


async def test_a_bad_last_line_writes_nothing(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    bad = {"type": "claim", "record": RECORDS[1]["record"] | {"id": "bad", "value": "many"}}
    response = await client.post("/v1/import", content=ndjson(*RECORDS, bad), headers=writer)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["name"] for e in response.json()["errors"]] == ["line 4: record.value"]
    assert (await client.get("/v1/organizations/kcna")).status_code == 404
    assert (await client.get("/v1/claims/orphans")).status_code == 404


async def test_errors_name_every_bad_line(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    lines = [
        b"not json",
        json.dumps({"type": "planet", "record": {}}).encode(),
        json.dumps({"type": "organization", "record": {"id": "x"}}).encode(),
        json.dumps(RECORDS[0]).encode(),
        json.dumps(RECORDS[0]).encode(),
    ]
    response = await client.post("/v1/import", content=b"\n".join(lines), headers=writer)
    names = [e["name"] for e in response.json()["errors"]]
    assert names == [
        "line 1: line",
        "line 2: type",
        "line 3: record.name",
        "line 3: record.kind",
        "line 5: record.id",
    ]


@pytest.mark.parametrize("wrapped", [True, False], ids=["records", "array"])
async def test_a_json_body_imports_as_ndjson_does(
    client: httpx.AsyncClient, writer: dict[str, str], wrapped: bool
) -> None:
    as_json = writer | {"Content-Type": "application/json"}
    body: Any = {"records": RECORDS} if wrapped else RECORDS
    response = await client.post("/v1/import", json=body, headers=as_json)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == {"organizations": 1, "sources": 1, "claims": 1}
    assert (await client.get("/v1/claims/orphans")).status_code == 200
    bad = {"type": "claim", "record": RECORDS[1]["record"] | {"id": "bad", "value": "many"}}
    refused = await client.post("/v1/import", json=[RECORDS[0], bad], headers=as_json)
    assert refused.status_code == 422
    # A record's "line" is its position in the array.
    assert [e["name"] for e in refused.json()["errors"]] == ["line 2: record.value"]


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"records": {}}', b'{"lines": []}', b"7"], ids=repr
)
async def test_a_json_body_that_holds_no_records_is_refused(
    client: httpx.AsyncClient, writer: dict[str, str], body: bytes
) -> None:
    as_json = writer | {"Content-Type": "application/json"}
    response = await client.post("/v1/import", content=body, headers=as_json)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["name"] for e in response.json()["errors"]] == ["body"]


async def test_a_json_body_nested_too_deep_is_refused(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    line = {"type": "organization", "record": {"id": "deep", "name": deep, "kind": "ngo"}}
    response = await client.post(
        "/v1/import",
        json={"records": [line]},
        headers=writer | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "nested deeper" in response.json()["errors"][0]["message"]


async def test_references_may_point_at_existing_records_and_misquotes_are_refused(
    client: httpx.AsyncClient, writer: dict[str, str], session: AsyncSession
) -> None:
    await client.post("/v1/import", content=ndjson(RECORDS[0], RECORDS[2]), headers=writer)
    second = [RECORDS[1]]
    assert (
        await client.post("/v1/import", content=ndjson(*second), headers=writer)
    ).status_code == 200
    unknown = {"type": "claim", "record": RECORDS[1]["record"] | {"id": "c2", "source": "nowhere"}}
    response = await client.post("/v1/import", content=ndjson(unknown), headers=writer)
    assert response.status_code == 422
    assert response.json()["errors"][0]["name"] == "line 1: record.source"
    misquote = {
        "type": "claim",
        "record": RECORDS[1]["record"] | {"id": "c3", "quote": "9000 orphans"},
    }
    response = await client.post("/v1/import", content=ndjson(misquote), headers=writer)
    assert response.status_code == 422
    assert response.json()["errors"][0]["name"].startswith("line 1:")


async def test_dry_run_validates_and_writes_nothing(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/import?dry_run=true", content=ndjson(*RECORDS), headers=writer
    )
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["created"] == {"organizations": 1, "sources": 1, "claims": 1}
    assert (await client.get("/v1/claims/orphans")).status_code == 404


async def test_content_type_and_size_are_checked(
    client: httpx.AsyncClient, writer: dict[str, str], database_url: URL, session: AsyncSession
) -> None:
    as_csv = await client.post(
        "/v1/import",
        content=ndjson(*RECORDS),
        headers=writer | {"Content-Type": "text/csv"},
    )
    assert as_csv.status_code == 415
    small = create_app(app_settings(database_url, import_max_bytes=100))

    async def test_session() -> AsyncIterator[AsyncSession]:
        yield session

    small.dependency_overrides[get_session] = test_session
    transport = httpx.ASGITransport(app=small)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as limited:
        response = await limited.post("/v1/import", content=ndjson(*RECORDS), headers=writer)
    assert response.status_code == 413


async def test_import_command(
    database_url: URL, tmp_path: Path, session: AsyncSession, engine: AsyncEngine
) -> None:
    path = tmp_path / "records.ndjson"
    path.write_bytes(ndjson(RECORDS[0] | {"record": RECORDS[0]["record"] | {"id": "cli-org"}}))
    env = {**os.environ, "DATABASE_URL": database_url.render_as_string(hide_password=False)}
    runner = CliRunner()
    dry = await asyncio.to_thread(runner.invoke, cli, ["import", str(path), "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert (
        await session.scalar(text("SELECT count(*) FROM organizations WHERE id = 'cli-org'")) == 0
    )
    result = await asyncio.to_thread(runner.invoke, cli, ["import", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert '"organizations": 1' in result.stdout
    assert (
        await session.scalar(text("SELECT count(*) FROM organizations WHERE id = 'cli-org'")) == 1
    )
    path.write_text("oops\n")
    failed = await asyncio.to_thread(runner.invoke, cli, ["import", str(path)], env=env)
    assert failed.exit_code == 1
    assert "line 1" in failed.output
    # The command committed to the test database: leave it as it was.
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_events WHERE route = 'testimony import'"))
        await factories.remove_committed(connection, "organizations", "cli-org")


async def test_a_retracted_record_cannot_be_changed_by_import(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await client.post("/v1/import", content=ndjson(RECORDS[0]), headers=writer)
    await client.delete(
        "/v1/organizations/kcna?reason=duplicate", headers=writer | {"If-Match": '"1-public"'}
    )
    renamed = RECORDS[0] | {"record": RECORDS[0]["record"] | {"name": "Renamed"}}
    response = await client.post("/v1/import", content=ndjson(renamed), headers=writer)
    assert response.status_code == 422
    assert "retracted" in response.json()["errors"][0]["message"]
