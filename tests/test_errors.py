from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

LIST_ROUTES = [
    "/v1/organizations",
    "/v1/sources",
    "/v1/facilities",
    "/v1/testimonies",
    "/v1/claims",
]


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    text = response.text.lower()
    for leak in ("select ", "traceback", "sqlalchemy", "asyncpg", "psycopg"):
        assert leak not in text
    return body


@pytest.mark.parametrize("route", LIST_ROUTES)
async def test_unknown_query_parameter_is_400_naming_it(
    client: httpx.AsyncClient, route: str
) -> None:
    body = assert_problem(await client.get(f"{route}?limit=5&colour=red&sortt=id"), 400)
    assert "'colour'" in str(body["detail"])
    assert "'sortt'" in str(body["detail"])
    assert body["errors"] == [
        {"location": "query", "name": "colour", "message": "not a parameter of this endpoint"},
        {"location": "query", "name": "sortt", "message": "not a parameter of this endpoint"},
    ]


async def test_unknown_parameter_on_a_single_record_route(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/claims/anything?verbose=1"), 400)


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/v1/claims?metric=weight", "metric"),
        ("/v1/claims?value_min=lots", "value_min"),
        ("/v1/claims?period_from=2021-13-01", "period_from"),
        ("/v1/sources?published_from=yesterday", "published_from"),
        ("/v1/sources?sort=colour", "sort"),
        ("/v1/facilities?province=Atlantis", "province"),
        ("/v1/facilities?has_location=perhaps", "has_location"),
        ("/v1/testimonies?updated_since=never", "updated_since"),
        ("/v1/sources/x/citation?format=docx", "format"),
    ],
)
async def test_malformed_value_is_422_naming_the_parameter(
    client: httpx.AsyncClient, url: str, parameter: str
) -> None:
    body = assert_problem(await client.get(url), 422)
    assert [error["name"] for error in body["errors"]] == [parameter]  # type: ignore[union-attr]
    assert parameter in str(body["detail"])


@pytest.mark.parametrize(
    "url",
    [f"{route}/no-such-record" for route in LIST_ROUTES] + ["/v1/sources/no-such-record/citation"],
)
async def test_unknown_id_is_404(client: httpx.AsyncClient, url: str) -> None:
    body = assert_problem(await client.get(url), 404)
    assert "no-such-record" in str(body["detail"])


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v2/claims"), 404)


async def test_ids_with_odd_characters_are_404_not_errors(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.claim(session, id="real")
    for odd in ["%00", "' OR 1=1 --", "é", "a" * 500, "REAL"]:
        assert_problem(await client.get(f"/v1/claims/{odd}"), 404)


async def test_nul_byte_in_a_filter_is_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/sources?publisher=a%00b"), 422)
    assert body["errors"] == [
        {"location": "query", "name": "publisher", "message": "contains a NUL character"}
    ]
