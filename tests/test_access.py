"""API keys, scopes and the authorization matrix of every route."""

from __future__ import annotations

import asyncio
import os
import re

import httpx
import pytest
from click.testing import Result
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from app.auth.dependencies import access
from app.auth.keys import revoke_key
from app.auth.scopes import Scope
from app.cli import cli
from app.db.engine import SessionDep
from app.kit.routes import api_routes
from app.main import (
    check_every_record_route_takes_the_policy,
    check_every_route_decides_access,
    create_app,
)
from tests import factories
from tests.conftest import app_settings

# Who may call each route: None for anyone (anonymous included), else the scope needed.
# A route added to the app without a decision here fails test_every_route_has_a_decision.
POLICY: dict[tuple[str, str], str | None] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/docs"): None,
    ("GET", "/redoc"): None,
    ("GET", "/metrics"): None,  # to the operators' networks (loopback here), whatever the key
    ("GET", "/v1/organizations"): None,
    ("GET", "/v1/organizations/{organization_id}"): None,
    ("GET", "/v1/sources"): None,
    ("GET", "/v1/sources/{source_id}"): None,
    ("GET", "/v1/sources/{source_id}/text"): None,
    ("GET", "/v1/sources/{source_id}/citation"): None,
    ("GET", "/v1/facilities"): None,
    ("GET", "/v1/facilities/{facility_id}"): None,
    ("GET", "/v1/testimonies"): None,
    ("GET", "/v1/testimonies/{testimony_id}"): None,
    ("GET", "/v1/claims"): None,
    ("GET", "/v1/claims/{claim_id}"): None,
    ("GET", "/v1/claims/{claim_id}/related"): None,
    ("GET", "/v1/audit"): "admin",
    ("GET", "/v1/changes"): None,
    ("GET", "/v1/search"): None,
    ("GET", "/v1/stats"): None,
    ("POST", "/v1/import"): "write",
}
for plural, singular in [
    ("organizations", "organization"),
    ("sources", "source"),
    ("facilities", "facility"),
    ("testimonies", "testimony"),
    ("claims", "claim"),
]:
    POLICY[("POST", f"/v1/{plural}")] = "write"
    POLICY[("PATCH", f"/v1/{plural}/{{{singular}_id}}")] = "write"
    POLICY[("DELETE", f"/v1/{plural}/{{{singular}_id}}")] = "write"
    POLICY[("GET", f"/v1/{plural}/{{{singular}_id}}/revisions")] = None
    POLICY[("GET", f"/v1/{plural}/{{{singular}_id}}/revisions/{{revision}}")] = None
EXPORTS = {
    "organizations": ["csv", "ndjson", "xlsx"],
    "sources": ["csv", "ndjson", "xlsx", "csl.json", "bib", "ris"],
    "facilities": ["csv", "ndjson", "xlsx", "geojson"],
    "testimonies": ["csv", "ndjson", "xlsx"],
    "claims": ["csv", "ndjson", "xlsx"],
}
for plural, suffixes in EXPORTS.items():
    for suffix in suffixes:
        POLICY[("GET", f"/v1/{plural}.{suffix}")] = None
for suffix in ("bib", "ris", "txt"):
    POLICY[("GET", f"/v1/sources/{{source_id}}/citation.{suffix}")] = None
REQUIRED_QUERY = {"/v1/search": "?q=quote"}
# Open to anyone, but what they serve here is a source's archived text, which by default
# (SOURCE_TEXT_ACCESS=keys) only clients with a key are given: test_source_text_access.py.
ARCHIVED_TEXT = {
    ("GET", "/v1/sources/{source_id}/text"),
    ("GET", "/v1/sources/{source_id}/revisions/{revision}"),
}
CLIENTS = [None, "read:restricted", "read:confidential", "write", "admin"]


def test_every_route_has_a_decision(app: FastAPI) -> None:
    routes = {(method, api.path) for api in api_routes(app) for method in api.methods}
    assert routes == set(POLICY)


def test_an_undecided_route_stops_the_app(database_url: URL) -> None:
    extra = APIRouter()

    @extra.get("/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    app = create_app(app_settings(database_url))
    app.include_router(extra)
    with pytest.raises(RuntimeError, match="/v1/forgotten"):
        check_every_route_decides_access(app)


def test_a_route_serving_records_around_the_policy_stops_the_app(database_url: URL) -> None:
    """A route that reads a record and answers it its own way, without the `Viewer`."""
    extra = APIRouter()

    @extra.get("/v1/testimonies/{testimony_id}/raw", **access(None))
    async def raw(testimony_id: str, session: SessionDep) -> dict[str, str]:
        return {"id": testimony_id}

    @extra.get("/v1/report", **access(Scope.admin, record_data=False))
    async def report() -> dict[str, int]:
        return {"imports": 0}

    app = create_app(app_settings(database_url))
    app.include_router(extra)
    with pytest.raises(
        RuntimeError, match=re.escape("GET /v1/testimonies/{testimony_id}/raw")
    ) as error:
        check_every_record_route_takes_the_policy(app)
    assert "/v1/report" not in str(error.value)


def test_the_document_declares_each_routes_scope(app: FastAPI) -> None:
    document = app.openapi()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for (method, path), scope in POLICY.items():
        if not path.startswith("/v1/"):
            continue
        operation = document["paths"][path][method.lower()]
        assert operation["x-required-scopes"] == ([scope] if scope else [])
        # A read keeps the document's default: anonymous, or with any key.
        expected = [{"bearerAuth": [scope]}] if scope else [{}, {"bearerAuth": []}]
        assert operation.get("security", document["security"]) == expected


def test_the_document_marks_sensitive_fields(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["Witness"]["properties"]["age_at_start"]["x-sensitivity"] == "restricted"
    assert schemas["Testimony"]["properties"]["county"]["x-sensitivity"] == "restricted"
    assert schemas["Citation"]["properties"]["quote"]["x-sensitivity"] == "restricted"
    assert schemas["Claim"]["properties"]["notes"]["x-sensitivity"] == "restricted"
    assert "disclosure" in schemas["Testimony"]["required"]


@pytest.mark.parametrize(("method", "path"), sorted(POLICY))
@pytest.mark.parametrize("scope", CLIENTS)
async def test_authorization_matrix(
    client: httpx.AsyncClient, session: AsyncSession, method: str, path: str, scope: str | None
) -> None:
    source = await factories.source(session, id="src", archived_text="The quote.")
    await factories.organization(session, id="org")
    await factories.facility(session, id="fac")
    await factories.testimony(session, id="tes")
    await factories.claim(session, id="cla", source=source.id, quote="The quote.")
    ids = {
        "organization_id": "org",
        "source_id": "src",
        "facility_id": "fac",
        "testimony_id": "tes",
        "claim_id": "cla",
    }
    headers = await factories.api_key(session, scope) if scope else {}
    url = path.format(**ids, revision=1) + REQUIRED_QUERY.get(path, "")
    response = await client.request(method, url, headers=headers)
    needed = POLICY[(method, path)]
    if needed is None or needed == scope:
        # Reads succeed; writes get past access control (an empty write is then refused).
        expected = {200} if method == "GET" else {400, 415, 422, 428}
        if scope is None and (method, path) in ARCHIVED_TEXT:
            expected = {403}
        assert response.status_code in expected, response.text
    elif scope is None:
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    else:
        assert response.status_code == 403
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer tk_aaaaaaaaaaaa_" + "x" * 43,  # well formed, unknown
        "Bearer not-a-key",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "tk_aaaaaaaaaaaa",
    ],
)
async def test_a_wrong_key_is_401_even_on_public_routes(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get("/v1/claims", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_revocation_takes_effect_at_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await factories.api_key(session, "admin")
    assert (await client.get("/v1/audit", headers=headers)).status_code == 200
    key_id = "key-" + headers["Authorization"].split("_")[1]
    await revoke_key(session, key_id)
    response = await client.get("/v1/audit", headers=headers)
    assert response.status_code == 401


async def test_the_plain_key_is_stored_nowhere(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await factories.api_key(session, "admin", "read:confidential")
    key = headers["Authorization"].removeprefix("Bearer ")
    secret = key.split("_", 2)[2]
    await client.get("/v1/audit", headers=headers)
    tables = (
        await session.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        )
    ).scalars()
    for table in tables:
        rows = await session.execute(text(f'SELECT t::text FROM "{table}" AS t'))
        for (row,) in rows:
            assert secret not in row, f"the key's secret is stored in {table}"


async def test_keys_command_creates_lists_revokes_and_audits(
    database_url: URL, session: AsyncSession
) -> None:
    env = {**os.environ, "DATABASE_URL": database_url.render_as_string(hide_password=False)}
    runner = CliRunner()

    async def invoke(*args: str) -> Result:
        # The commands run their own event loop: give them a thread of their own.
        return await asyncio.to_thread(runner.invoke, cli, list(args), env=env)

    created = await invoke("keys", "create", "--name", "ngo-mirror", "--scope", "read:restricted")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("tk_")
    key_id = "key-" + key.split("_")[1]
    listed = await invoke("keys", "list")
    assert f"{key_id}\tngo-mirror\tread:restricted\tactive" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    revoked = await invoke("keys", "revoke", key_id)
    assert revoked.exit_code == 0
    assert "revoked" in (await invoke("keys", "list")).stdout.split(key_id)[1]
    audited = await session.execute(
        text("SELECT route, action FROM audit_events WHERE :record = ANY(records) ORDER BY id"),
        {"record": f"api_keys/{key_id}"},
    )
    assert audited.all() == [("testimony keys create", "write"), ("testimony keys revoke", "write")]
    unknown = await invoke("keys", "revoke", "key-nosuchkey000")
    assert unknown.exit_code == 1
    bad_scope = await invoke("keys", "create", "--name", "x", "--scope", "root")
    assert bad_scope.exit_code != 0
