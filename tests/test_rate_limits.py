from __future__ import annotations

from collections.abc import AsyncIterator

import http_sf
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import get_session
from app.main import create_app
from tests import factories
from tests.conftest import app_settings


def _item(response: httpx.Response, field: str) -> tuple[str, dict[str, int]]:
    """The one member of a RateLimit or RateLimit-Policy field, parsed as the structured
    field (a list) that the IETF draft defines."""
    members = http_sf.parse(response.headers[field].encode(), tltype="list")
    assert len(members) == 1
    name, parameters = members[0]
    return str(name), dict(parameters)


def policy(response: httpx.Response) -> tuple[str, dict[str, int]]:
    return _item(response, "ratelimit-policy")


def state(response: httpx.Response) -> tuple[str, dict[str, int]]:
    return _item(response, "ratelimit")


def remaining(response: httpx.Response) -> int:
    return state(response)[1]["r"]


@pytest.fixture
async def limited(
    database_url: URL, session: AsyncSession
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(
        app_settings(database_url, rate_limit_anonymous="3/minute", rate_limit_key="5/minute")
    )

    async def test_session() -> AsyncIterator[AsyncSession]:
        yield session

    app.dependency_overrides[get_session] = test_session
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield app, client


async def test_anonymous_clients_are_limited_per_address(
    limited: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = limited
    answers = [await client.get("/v1/organizations") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [remaining(a) for a in answers] == [2, 1, 0, 0]
    assert answers[0].headers["ratelimit-policy"] == '"anonymous";q=3;w=60'
    assert policy(answers[0]) == ("anonymous", {"q": 3, "w": 60})
    name, parameters = state(answers[0])
    assert name == "anonymous"
    assert 0 < parameters["t"] <= 60
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.json()["status"] == 429


async def test_a_key_has_its_own_budget(
    limited: tuple[FastAPI, httpx.AsyncClient], session: AsyncSession
) -> None:
    _, client = limited
    headers = await factories.api_key(session)
    for _ in range(3):
        await client.get("/v1/claims")
    assert (await client.get("/v1/claims")).status_code == 429
    keyed = [await client.get("/v1/claims", headers=headers) for _ in range(6)]
    assert [a.status_code for a in keyed] == [200] * 5 + [429]
    assert policy(keyed[0]) == ("key", {"q": 5, "w": 60})
    assert [remaining(a) for a in keyed] == [4, 3, 2, 1, 0, 0]


async def test_limits_apply_to_every_format_and_not_to_probes(
    limited: tuple[FastAPI, httpx.AsyncClient], session: AsyncSession
) -> None:
    _, client = limited
    await factories.source(session, id="report", archived_text="Text.")
    text = await client.get("/v1/sources/report/text")
    citation = await client.get("/v1/sources/report/citation?format=ris")
    assert remaining(text) == 2
    assert remaining(citation) == 1
    for _ in range(5):
        assert (await client.get("/healthz")).status_code == 200


async def test_failed_authentication_counts_against_the_address(
    limited: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = limited
    wrong = {"Authorization": "Bearer tk_aaaaaaaaaaaa_" + "x" * 43}
    answers = [(await client.get("/v1/claims", headers=wrong)).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
