"""SDKs generated from the OpenAPI document must generate without a warning and work.

The Python client (openapi-python-client) and a TypeScript client (openapi-typescript types
for openapi-fetch, the versions pinned in tests/sdk/package-lock.json) are generated from the
document and used for what clients do, against the API served by `testimony serve` on a
seeded database of its own: anonymous reads page by page, a BibTeX citation, an import, a
write with If-Match, and problems read as problem+json.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.db import migrations
from app.db.engine import make_engine
from app.kit.routes import api_routes
from app.seeding.loader import SeedData, load_seed, read_seed
from app.settings import SEED_DIR
from tests import CHECKOUT, factories
from tests.conftest import drop_database, recreate_database
from tests.outages import ServedApi

PACKAGE = "testimony_client"
SDK_DIR = CHECKOUT / "tests" / "sdk"
# npm packages are installed here once, and again only when the lock file changes.
NODE_CACHE = CHECKOUT / ".sdk-cache" / "node"
WARNING = re.compile(r"warn|⚠", re.IGNORECASE)


def _run(command: list[str], cwd: Path, **env: str) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | env,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)}:\n{output}"
    return output


def _no_warnings(output: str) -> None:
    warnings = [line for line in output.splitlines() if WARNING.search(line)]
    assert not warnings, output  # a skipped endpoint or model is a broken document


# --- The document ----------------------------------------------------------------------------


def test_every_operation_has_a_specific_summary(app: FastAPI) -> None:
    document = app.openapi()
    routes = [api.route for api in api_routes(app) if api.route.include_in_schema]
    # FastAPI would make one of the function's name ("Get Record" for every kind).
    assert [r.path for r in routes if not r.summary] == []
    summaries = [
        operation["summary"] for path in document["paths"].values() for operation in path.values()
    ]
    assert len(summaries) == len(routes)
    assert sorted(s for s in summaries if summaries.count(s) > 1) == []


def test_each_answer_has_one_media_type(app: FastAPI) -> None:
    document = app.openapi()
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                media_types = list(response.get("content", {}))
                assert len(media_types) <= 1, (method, template, status, media_types)
    claims = document["paths"]["/v1/claims"]["get"]
    assert list(claims["responses"]["200"]["content"]) == ["application/json"]
    assert "format" not in {p["name"] for p in claims["parameters"]}
    export = document["paths"]["/v1/claims.csv"]["get"]
    assert list(export["responses"]["200"]["content"]) == ["text/csv"]
    bibtex = document["paths"]["/v1/sources/{source_id}/citation.bib"]["get"]
    assert list(bibtex["responses"]["200"]["content"]) == ["application/x-bibtex"]


def test_reads_are_anonymous_and_writes_need_a_key(app: FastAPI) -> None:
    document = app.openapi()
    # The document's default, which reads keep: anonymous, or with a key.
    assert document["security"] == [{}, {"bearerAuth": []}]
    read = document["paths"]["/v1/claims/{claim_id}"]["get"]
    write = document["paths"]["/v1/claims/{claim_id}"]["patch"]
    assert "security" not in read
    assert write["security"] == [{"bearerAuth": ["write"]}]


def test_the_document_declares_the_response_headers(app: FastAPI) -> None:
    document = app.openapi()
    paths = document["paths"]
    assert set(document["components"]["headers"]) >= {
        "RateLimit",
        "RateLimit-Policy",
        "X-Request-ID",
        "Retry-After",
        "Link",
    }
    one = paths["/v1/claims/{claim_id}"]
    assert "ETag" in one["get"]["responses"]["200"]["headers"]
    assert "ETag" in one["patch"]["responses"]["200"]["headers"]
    assert {"ETag", "Location"} <= set(paths["/v1/claims"]["post"]["responses"]["201"]["headers"])
    assert "Link" in paths["/v1/claims"]["get"]["responses"]["200"]["headers"]
    assert "Link" in paths["/v1/changes"]["get"]["responses"]["200"]["headers"]
    for status in ("429", "503"):
        assert "Retry-After" in one["get"]["responses"][status]["headers"]
    for operations in paths.values():
        for operation in operations.values():
            for response in operation["responses"].values():
                assert "X-Request-ID" in response["headers"]
                assert ("RateLimit" in response["headers"]) == ("x-required-scopes" in operation)


# --- The Python client -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdk(app: FastAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    generator = shutil.which("openapi-python-client") or str(
        Path(sys.executable).parent / "openapi-python-client"
    )
    workdir = tmp_path_factory.mktemp("sdk")
    spec = workdir / "openapi.json"
    spec.write_text(json.dumps(app.openapi()), encoding="utf-8")
    output = _run(
        [
            generator,
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(workdir / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(SDK_DIR / "openapi-python-client.yaml"),
        ],
        workdir,
    )
    _no_warnings(output)
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(sdk: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _client(sdk: ModuleType, app: FastAPI) -> Any:
    client = sdk.Client(base_url="http://testserver", raise_on_unexpected_status=True)
    client.set_async_httpx_client(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    )
    return client


async def test_generated_client_pages_through_claims_and_fetches_one(
    sdk: ModuleType, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for number in range(5):
        await factories.claim(session, id=f"sdk-claim-{number}", value=number, metric="deaths")
    list_claims = _api(sdk, "claims.list_claims")
    get_claim = _api(sdk, "claims.get_claim")
    models = importlib.import_module(f"{PACKAGE}.models")

    api = _client(sdk, app)
    seen: list[str] = []
    cursor: Any = sdk.types.UNSET
    async with api:
        while True:
            page = await list_claims.asyncio(
                client=api,
                limit=2,
                cursor=cursor,
                metric=[models.Metric.DEATHS],
                sort=models.ClaimSort.VALUE,
            )
            assert isinstance(page, models.ClaimPage)
            seen += [claim.id for claim in page.data]
            if not page.page.next_cursor:
                break
            cursor = page.page.next_cursor
        claim = await get_claim.asyncio(client=api, claim_id="sdk-claim-3")
    assert seen == [f"sdk-claim-{n}" for n in range(5)]
    assert isinstance(claim, models.Claim)
    assert claim.value == 3
    assert claim.citations[0].quote == "700 orphans had volunteered"
    assert claim.cite_as.permalink == "http://testserver/v1/claims/sdk-claim-3"


async def test_generated_client_reports_problems(
    sdk: ModuleType, app: FastAPI, client: httpx.AsyncClient
) -> None:
    get_claim = _api(sdk, "claims.get_claim")
    models = importlib.import_module(f"{PACKAGE}.models")
    async with _client(sdk, app) as api:
        response = await get_claim.asyncio_detailed(client=api, claim_id="missing")
    assert response.status_code == 404
    assert isinstance(response.parsed, models.Problem)
    assert response.parsed.status == 404


# --- Against a live server -------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    url: str
    key: str  # with the write scope
    seed: SeedData


@pytest.fixture(scope="module")
async def live(database_url: URL, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    """`testimony serve` on a database of its own, holding the seed corpus and a write key."""
    url = database_url.set(database=f"{database_url.database}_sdk")
    await recreate_database(url)
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        seed = read_seed(SEED_DIR)
        engine = make_engine(url, pooled=False)
        try:
            async with async_sessionmaker(engine)() as session, session.begin():
                await load_seed(session, seed)
                _, key = await create_key(session, "sdk test", [Scope.write])
        finally:
            await engine.dispose()
        served = ServedApi(url, tmp_path_factory.mktemp("sdk-server"))
        try:
            await served.wait_ready()
            yield Live(served.base_url, key, seed)
        finally:
            served.terminate()
    finally:
        await drop_database(url)


def _visible_claims(seed: SeedData) -> list[str]:
    return sorted(claim.id for claim in seed.claims)


async def test_the_python_client_works_against_a_live_server(sdk: ModuleType, live: Live) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    ids: list[str] = []
    # Reads need no key: the plain Client.
    async with sdk.Client(base_url=live.url, raise_on_unexpected_status=True) as anonymous:
        cursor: Any = sdk.types.UNSET
        while True:
            page = await _api(sdk, "claims.list_claims").asyncio(
                client=anonymous, limit=10, cursor=cursor
            )
            assert isinstance(page, models.ClaimPage)
            ids += [claim.id for claim in page.data]
            if not page.page.next_cursor:
                break
            cursor = page.page.next_cursor
        source = live.seed.sources[0].id
        bibtex = await _api(sdk, "sources.get_source_citation_bibtex").asyncio(
            client=anonymous, source_id=source
        )
        csv = await _api(sdk, "claims.export_claims_csv").asyncio(client=anonymous)
        missing = await _api(sdk, "claims.get_claim").asyncio_detailed(
            client=anonymous, claim_id="no-such-claim"
        )
    assert ids == _visible_claims(live.seed)
    assert isinstance(bibtex, str)
    assert bibtex.startswith("@")
    assert f"{{{source}," in bibtex
    assert isinstance(csv, str)
    assert csv.splitlines()[0].startswith("id,")
    assert len(csv.splitlines()) == len(ids) + 1
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert isinstance(missing.parsed, models.Problem)
    assert missing.parsed.status == 404

    async with sdk.AuthenticatedClient(
        base_url=live.url, token=live.key, raise_on_unexpected_status=True
    ) as writer:
        line = models.ImportRecordsJsonBodyRecordsItem.from_dict(
            {"type": "organization", "record": {"id": "python-sdk-ngo", "name": "N", "kind": "ngo"}}
        )
        report = await _api(sdk, "changes.import_records").asyncio(
            client=writer, body=models.ImportRecordsJsonBody(records=[line])
        )
        ndjson = json.dumps(
            {
                "type": "organization",
                "record": {"id": "python-sdk-ngo-2", "name": "M", "kind": "ngo"},
            }
        )
        lines = sdk.types.File(payload=ndjson.encode(), mime_type="application/x-ndjson")
        second = await _api(sdk, "changes.import_records").asyncio(client=writer, body=lines)
        read = await _api(sdk, "organizations.get_organization").asyncio_detailed(
            client=writer, organization_id="python-sdk-ngo"
        )
        etag = read.headers["etag"]
        change = models.OrganizationUpdate.from_dict({"description": "Changed through Python."})
        update = _api(sdk, "organizations.update_organization")
        changed = await update.asyncio_detailed(
            client=writer, organization_id="python-sdk-ngo", body=change, if_match=etag
        )
        stale = await update.asyncio_detailed(
            client=writer, organization_id="python-sdk-ngo", body=change, if_match=etag
        )
    assert isinstance(report, models.ImportReport)
    assert report.created.to_dict() == {"organizations": 1}
    assert isinstance(second, models.ImportReport)
    assert second.created.to_dict() == {"organizations": 1}
    assert changed.status_code == 200
    assert isinstance(changed.parsed, models.Organization)
    assert changed.parsed.description == "Changed through Python."
    assert changed.headers["etag"] != etag
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Problem)


# --- The TypeScript client -------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The pinned npm packages, installed from the lock file into the cache when it changed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the TypeScript client is not checked")
    lock = (SDK_DIR / "package-lock.json").read_bytes()
    installed = NODE_CACHE / "package-lock.json"
    modules = NODE_CACHE / "node_modules"
    if not (modules.is_dir() and installed.is_file() and installed.read_bytes() == lock):
        shutil.rmtree(NODE_CACHE, ignore_errors=True)
        NODE_CACHE.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SDK_DIR / name, NODE_CACHE / name)
        _run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], NODE_CACHE)
    return modules


@pytest.fixture(scope="module")
def typescript_tasks(
    app: FastAPI, node_modules: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The task script, compiled strictly against the client generated from the document."""
    workdir = tmp_path_factory.mktemp("typescript")
    (workdir / "node_modules").symlink_to(node_modules, target_is_directory=True)
    for name in ("package.json", "tasks.ts", "tsconfig.json"):
        shutil.copy(SDK_DIR / name, workdir / name)
    spec = workdir / "openapi.json"
    spec.write_text(json.dumps(app.openapi()), encoding="utf-8")
    bin_dir = node_modules / ".bin"
    generated = _run(
        [str(bin_dir / "openapi-typescript"), str(spec), "--output", "schema.d.ts"], workdir
    )
    _no_warnings(generated)
    # Strict, and nothing is written if anything does not type-check.
    compiled = _run([str(bin_dir / "tsc"), "--project", "tsconfig.json"], workdir)
    assert compiled == "", compiled
    return workdir / "build" / "tasks.js"


def test_the_typescript_client_works_against_a_live_server(
    typescript_tasks: Path, live: Live
) -> None:
    output = _run(
        ["node", str(typescript_tasks)],
        typescript_tasks.parent,
        TESTIMONY_URL=live.url,
        TESTIMONY_KEY=live.key,
    )
    done = json.loads(output)
    assert done["claims"] == _visible_claims(live.seed)
    assert done["pages"] == -(-len(done["claims"]) // 10)
    assert done["bibtex"].startswith("@")
    assert f"{{{done['source']}," in done["bibtex"]
    assert done["imported"] == {"organizations": 1}
    assert done["description"] == "Changed through the TypeScript client."
    assert done["changed_etag"] not in (None, done["etag"])
    assert done["stale"]["status"] == 412
    assert done["stale"]["problem"]["status"] == 412
    assert done["missing"]["status"] == 404
    assert done["missing"]["content_type"] == "application/problem+json"
    assert done["missing"]["problem"]["type"] == "urn:testimony-api:problem:not-found"
