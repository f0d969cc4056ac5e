from __future__ import annotations

import base64
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories


async def pages(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    """Every page of a list, following `links.next`."""
    bodies: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        bodies.append(response.json())
        next_url = bodies[-1]["links"]["next"]
    return bodies


async def walk(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    """Every record of a list."""
    return [record for body in await pages(client, url) for record in body["data"]]


async def test_walking_all_pages_yields_every_row_once_while_rows_are_inserted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for number in range(23):
        await factories.organization(session, id=f"org-{number:03d}", name=f"Org {number % 5}")
    seen: list[str] = []
    inserted: list[str] = []
    url: str | None = "/v1/organizations?limit=4&sort=name"
    while url:
        body = (await client.get(url)).json()
        seen += [record["id"] for record in body["data"]]
        url = body["links"]["next"]
        # Rows that sort before and after the current position arrive between pages.
        for name in ("Org 0", "Org 9"):
            row = await factories.organization(session, name=name)
            inserted.append(row.id)
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert {f"org-{n:03d}" for n in range(23)} <= set(seen), "a row present throughout was missed"
    assert set(seen) - {f"org-{n:03d}" for n in range(23)} <= set(inserted)


async def test_pages_follow_the_sort_with_the_id_as_tie_breaker(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for number in range(7):
        await factories.organization(session, id=f"tie-{number}", name="Same name")
    records = await walk(client, "/v1/organizations?limit=3&sort=-name")
    ids = [r["id"] for r in records]
    assert ids == [f"tie-{n}" for n in reversed(range(7))]


async def test_next_link_is_in_body_and_link_header(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(3):
        await factories.organization(session)
    response = await client.get("/v1/organizations?limit=2&kind=state_media")
    body = response.json()
    assert body["page"] == {"limit": 2, "next_cursor": body["page"]["next_cursor"]}
    assert body["page"]["next_cursor"]
    assert body["links"]["self"] == "http://testserver/v1/organizations?limit=2&kind=state_media"
    assert "kind=state_media" in body["links"]["next"]
    assert response.headers["link"] == f'<{body["links"]["next"]}>; rel="next"'
    last = (await client.get(body["links"]["next"])).json()
    assert last["page"]["next_cursor"] is None
    assert last["links"]["next"] is None


async def test_default_limit_is_50(client: httpx.AsyncClient, session: AsyncSession) -> None:
    for _ in range(51):
        await factories.organization(session)
    body = (await client.get("/v1/organizations")).json()
    assert len(body["data"]) == 50
    assert body["page"]["limit"] == 50


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
async def test_limit_out_of_bounds_is_422(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get(f"/v1/claims?limit={limit}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["name"] for e in response.json()["errors"]] == ["limit"]


async def test_limit_200_is_allowed(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/claims?limit=200")).status_code == 200


async def _first_cursor(client: httpx.AsyncClient, session: AsyncSession, query: str) -> str:
    for _ in range(3):
        await factories.source(session, published="2021-05-28")
    body = (await client.get(f"/v1/sources?limit=1&{query}")).json()
    cursor: str = body["page"]["next_cursor"]
    return cursor


async def test_cursor_with_another_sort_is_400(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    cursor = await _first_cursor(client, session, "sort=title")
    response = await client.get(f"/v1/sources?limit=1&sort=-title&cursor={cursor}")
    assert response.status_code == 400
    assert "another sort, other filters" in response.json()["detail"]


async def test_cursor_with_other_filters_is_400(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    cursor = await _first_cursor(client, session, "source_type=news_report")
    response = await client.get(f"/v1/sources?cursor={cursor}&source_type=ngo_report")
    assert response.status_code == 400
    assert response.json()["type"].endswith("invalid-cursor")


@pytest.mark.parametrize(
    "tamper",
    [
        # A changed character inside (the last one may only carry padding bits).
        lambda c: c[:10] + ("A" if c[10] != "A" else "B") + c[11:],
        lambda c: "x" + c,
        lambda c: "not-a-cursor",
        lambda c: base64.urlsafe_b64encode(b'{"f":"x","k":["a","b"]}').decode() + ".0",
        lambda c: "%%%.",
    ],
)
async def test_tampered_cursor_is_400(
    client: httpx.AsyncClient, session: AsyncSession, tamper: Any
) -> None:
    cursor = await _first_cursor(client, session, "sort=title")
    response = await client.get("/v1/sources", params={"sort": "title", "cursor": tamper(cursor)})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_undated_sources_sort_last_in_both_directions(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.source(session, id="old", published="2019")
    await factories.source(session, id="new", published="2021-05-28")
    await factories.source(session, id="undated-a")
    await factories.source(session, id="undated-b")
    descending = [r["id"] for r in await walk(client, "/v1/sources?limit=1&sort=-published_on")]
    ascending = [r["id"] for r in await walk(client, "/v1/sources?limit=1&sort=published_on")]
    assert descending == ["new", "old", "undated-b", "undated-a"]
    assert ascending == ["old", "new", "undated-a", "undated-b"]


async def test_claims_sort_by_value_across_pages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for value in (700, 5, 26_000_000, 95.4):
        await factories.claim(session, value=value)
    await factories.claim(session, value=None, value_min=100, value_max=999, approximation="vague")
    records = await walk(client, "/v1/claims?limit=2&sort=value")
    assert [r["value"] or r["value_min"] for r in records] == [5, 95.4, 100, 700, 26_000_000]


async def test_testimonies_sort_by_period_start(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.testimony(session, id="t-1993", period_start="1993")
    await factories.testimony(session, id="t-1953", period_start="1953-07")
    await factories.testimony(session, id="t-undated")
    records = await walk(client, "/v1/testimonies?limit=1&sort=period_start")
    assert [r["id"] for r in records] == ["t-1953", "t-1993", "t-undated"]
    assert records[0]["period"] == {"start": "1953-07", "end": None}


async def test_updated_since_returns_only_later_changes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    old = await factories.facility(session, id="old-facility")
    new = await factories.facility(session, id="new-facility")
    await factories.touch(session, old, date(2020, 1, 1))  # type: ignore[arg-type]
    await factories.touch(session, new, date(2024, 1, 1))  # type: ignore[arg-type]
    body = (await client.get("/v1/facilities?updated_since=2023-01-01T00:00:00Z")).json()
    assert [r["id"] for r in body["data"]] == ["new-facility"]
