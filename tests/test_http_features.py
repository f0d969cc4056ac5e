"""HTTP that browsers and caches expect: CORS for reads, gzip, and HEAD on every GET."""

from __future__ import annotations

import gzip
import inspect
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.routes import api_routes
from app.main import create_app
from tests import factories
from tests.conftest import app_settings

ORIGIN = "https://reader.example"


def listed(header: str) -> set[str]:
    return {item.strip().lower() for item in header.split(",")}


# --- CORS ------------------------------------------------------------------------------------


async def test_a_preflight_for_a_read_is_answered(client: httpx.AsyncClient) -> None:
    answer = await client.options(
        "/v1/claims",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, if-none-match",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert listed(answer.headers["access-control-allow-methods"]) == {"get", "head"}
    assert {"authorization", "if-none-match"} <= listed(
        answer.headers["access-control-allow-headers"]
    )
    assert answer.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in answer.headers


async def test_writes_are_not_opened_cross_origin(client: httpx.AsyncClient) -> None:
    answer = await client.options(
        "/v1/claims", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert answer.status_code == 400


async def test_a_cross_origin_read_may_see_the_useful_headers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.organization(session, id="kcna")
    answer = await client.get("/v1/organizations/kcna", headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    exposed = listed(answer.headers["access-control-expose-headers"])
    assert {"etag", "link", "ratelimit", "ratelimit-policy", "x-request-id"} <= exposed
    # Same-origin answers carry none of it.
    assert "access-control-allow-origin" not in (await client.get("/v1/organizations")).headers


async def test_origins_can_be_listed(database_url: URL) -> None:
    app = create_app(
        app_settings(database_url, cors_origins="https://a.example, https://b.example")
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        allowed = await client.get("/healthz", headers={"Origin": "https://b.example"})
        other = await client.get("/healthz", headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == "https://b.example"
    assert "Origin" in allowed.headers["vary"]
    assert "access-control-allow-origin" not in other.headers


# --- Compression -----------------------------------------------------------------------------

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


async def test_a_page_is_compressed_when_asked(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(6):
        await factories.organization(session)
    plain = await client.get("/v1/organizations", headers=IDENTITY)
    packed = await client.get("/v1/organizations", headers=GZIP)
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert packed.json() == plain.json()
    assert packed.num_bytes_downloaded < len(plain.content) // 2


async def test_small_answers_are_left_alone(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz", headers=GZIP)
    assert "content-encoding" not in answer.headers


async def test_conditional_gets_work_on_compressed_records(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.organization(session, id="kcna", description="A state news agency. " * 80)
    first = await client.get("/v1/organizations/kcna", headers=GZIP)
    assert first.headers["content-encoding"] == "gzip"
    # The tag names the record's version and view, whatever the coding of its bytes.
    assert factories.is_etag(first.headers["etag"], 1, "public")
    assert listed(first.headers["vary"]) >= {"authorization", "accept-encoding"}
    again = await client.get(
        "/v1/organizations/kcna", headers=GZIP | {"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    weak = await client.get(
        "/v1/organizations/kcna", headers=IDENTITY | {"If-None-Match": "W/" + first.headers["etag"]}
    )
    assert weak.status_code == 304


@pytest.mark.parametrize("format", ["ndjson", "csv"])
async def test_streamed_exports_compress_whole(
    client: httpx.AsyncClient, session: AsyncSession, format: str
) -> None:
    for _ in range(30):
        await factories.organization(session)
    plain = await client.get(f"/v1/organizations?format={format}", headers=IDENTITY)
    async with client.stream("GET", f"/v1/organizations?format={format}", headers=GZIP) as packed:
        raw = b"".join([chunk async for chunk in packed.aiter_raw()])
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["content-disposition"] == plain.headers["content-disposition"]
    assert gzip.decompress(raw) == plain.content
    assert plain.text.count("\n") >= 30


# --- HEAD ------------------------------------------------------------------------------------

# Headers that differ from one answer to the next whatever the method (a next link holds a
# cursor sealed afresh each time).
VOLATILE = {"date", "x-request-id", "ratelimit", "link"}


def get_routes(app: FastAPI) -> list[str]:
    """The path of every GET route, those of included routers too."""
    return sorted(
        {
            context.path
            for context in iter_route_contexts(app.routes)
            if context.path and "GET" in (context.methods or ())
        }
    )


async def test_head_answers_every_get_route_as_its_get(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    paths = get_routes(app)
    assert len(paths) > 20
    assert {"/healthz", "/docs", "/v1/claims", "/v1/claims/{claim_id}"} <= set(paths)
    for template in paths:
        path = re.sub(r"\{[^}]+\}", "none-such", template)
        got = await client.get(path)
        head = await client.head(path)
        assert head.status_code == got.status_code, template
        assert head.content == b"", template
        headers = {name: value for name, value in got.headers.items() if name not in VOLATILE}
        if template == "/metrics":  # its figures move between the two requests
            headers.pop("content-length")
        assert {name: head.headers.get(name) for name in headers} == headers, template


async def test_head_of_an_export_sends_its_headers_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(3):
        await factories.organization(session)
    head = await client.head("/v1/organizations?format=ndjson")
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("application/x-ndjson")
    assert head.headers["content-disposition"].startswith("attachment;")
    assert head.content == b""


async def test_a_method_not_allowed_names_head_with_get(client: httpx.AsyncClient) -> None:
    answer = await client.delete("/healthz")
    assert answer.status_code == 405
    assert listed(answer.headers["allow"]) == {"get", "head"}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def test_no_dependency_runs_in_a_worker_thread(app: FastAPI) -> None:
    """FastAPI runs a plain-function dependency in a worker thread: a hand-off per request
    that costs more than the function. Every dependency the routes take is a coroutine (or
    an async generator)."""
    in_threads = sorted(
        {
            f"{api.path}: {dependency.call.__qualname__}"
            for api in api_routes(app)
            for dependency in _dependencies(api.route.dependant)
            if dependency.call is not None
            and not (
                inspect.iscoroutinefunction(dependency.call)
                or inspect.isasyncgenfunction(dependency.call)
            )
        }
    )
    assert in_threads == []
