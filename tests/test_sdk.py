"""A Python client generated from the OpenAPI document must work against the API."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

PACKAGE = "testimony_client"


@pytest.fixture(scope="module")
def sdk(app: FastAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    generator = shutil.which("openapi-python-client") or str(
        Path(sys.executable).parent / "openapi-python-client"
    )
    workdir = tmp_path_factory.mktemp("sdk")
    spec = workdir / "openapi.json"
    spec.write_text(json.dumps(app.openapi()), encoding="utf-8")
    config = workdir / "config.yaml"
    # NDJSON (the bulk import) is sent as a binary body by the generated client.
    config.write_text(
        f"post_hooks: []\npackage_name_override: {PACKAGE}\n"
        "content_type_overrides:\n  application/x-ndjson: application/octet-stream\n",
        encoding="utf-8",
    )
    result = subprocess.run(
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
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output, output  # a skipped endpoint or model is a broken spec
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


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
    list_claims = importlib.import_module(f"{PACKAGE}.api.claims.list_claims")
    get_claim = importlib.import_module(f"{PACKAGE}.api.claims.get_claim")
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
    get_claim = importlib.import_module(f"{PACKAGE}.api.claims.get_claim")
    models = importlib.import_module(f"{PACKAGE}.models")
    async with _client(sdk, app) as api:
        response = await get_claim.asyncio_detailed(client=api, claim_id="missing")
    assert response.status_code == 404
    assert isinstance(response.parsed, models.Problem)
    assert response.parsed.status == 404
