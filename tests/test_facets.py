"""Facets on the lists and the corpus statistics: counts that honour the other filters, an
explicit unknown group, and the same protection as the records."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories


def groups(body: dict[str, Any], facet: str) -> dict[str | None, Any]:
    return {group["key"]: group["count"] for group in body["facets"][facet]}


async def test_facility_facets_honour_the_other_filters_not_their_own(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await factories.organization(session, id="mss", name="Ministry of State Security")
    await factories.facility(session, id="a", facility_type="coal_mine", province="north_hamgyong")
    await factories.facility(session, id="b", facility_type="coal_mine", province="north_hamgyong")
    await factories.facility(session, id="c", facility_type="coal_mine")  # province unknown
    await factories.facility(
        session, id="d", facility_type="labour_camp", province="south_pyongan", operator=operator.id
    )
    response = await client.get(
        "/v1/facilities",
        params={"facet": ["province", "facility_type", "operator"], "facility_type": "coal_mine"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [f["id"] for f in body["data"]] == ["a", "b", "c"]
    # Provinces of the coal mines only, the unknown one as its own group ...
    assert body["facets"]["province"] == [
        {"key": "north_hamgyong", "label": "North Hamgyong", "count": 2},
        {"key": None, "label": "Unknown", "count": 1},
    ]
    # ... while the type facet ignores its own filter, so other types can be picked.
    assert groups(body, "facility_type") == {"coal_mine": 3, "labour_camp": 1}
    assert groups(body, "operator") == {None: 3}
    everything = (await client.get("/v1/facilities?facet=operator")).json()
    assert everything["facets"]["operator"][0] == {
        "key": "mss",
        "label": "Ministry of State Security",
        "count": 1,
    }
    searched = (await client.get("/v1/facilities?facet=province&province=north_hamgyong")).json()
    assert groups(searched, "province") == {"north_hamgyong": 2, "south_pyongan": 1, None: 1}
    plain = (await client.get("/v1/facilities")).json()
    assert "facets" not in plain


async def test_facets_follow_search_and_exclude_retracted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.claim(session, id="one", statement="Orphans sent to a mine.")
    await factories.claim(
        session, id="two", statement="Orphans aged 14.", metric="age_years", unit="years"
    )
    await factories.claim(session, id="three", statement="Soldiers built a dam.", quote="dam")
    writer = await factories.api_key(session, "write")
    await client.delete(
        "/v1/claims/one?reason=duplicate", headers=writer | {"If-Match": '"1-public"'}
    )
    body = (await client.get("/v1/claims?q=orphans&facet=metric&facet=unit")).json()
    assert groups(body, "metric") == {"age_years": 1}
    assert groups(body, "unit") == {"years": 1}
    everything = (await client.get("/v1/claims?facet=metric&include_retracted=true")).json()
    assert groups(everything, "metric") == {"persons_count": 2, "age_years": 1}


async def test_testimony_facets_count_each_labour_type_and_suppress_small_cells(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for number in range(6):
        await factories.testimony(
            session,
            id=f"t{number}",
            labour_types=["mining", "construction"] if number == 0 else ["mining"],
            period_start=f"19{90 + number}",
            protection_level="restricted" if number else "public",
        )
    await factories.testimony(session, id="untyped", protection_level="public")
    await factories.testimony(
        session, id="secret", labour_types=["forestry"], protection_level="confidential"
    )
    anonymous = (await client.get("/v1/testimonies?facet=labour_type&facet=decade")).json()
    assert anonymous["facets"]["labour_type"] == [
        {"key": "mining", "label": "Mining", "count": 6},
        {"key": "construction", "label": "Construction", "count": "<5"},
        {"key": None, "label": "Unknown", "count": "<5"},
    ]
    assert groups(anonymous, "decade") == {"1990": 6, None: "<5"}
    restricted = await factories.api_key(session, "read:restricted")
    exact = (await client.get("/v1/testimonies?facet=labour_type", headers=restricted)).json()
    assert groups(exact, "labour_type") == {"mining": 6, "construction": 1, None: 1}
    confidential = await factories.api_key(session, "read:confidential")
    every = (await client.get("/v1/testimonies?facet=labour_type", headers=confidential)).json()
    assert groups(every, "labour_type")["forestry"] == 1


async def test_facet_values_are_checked_and_do_not_bind_cursors(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    bad = await client.get("/v1/claims?facet=province")
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    for number in range(3):
        await factories.organization(session, id=f"org-{number}", kind="ngo")
    first = (await client.get("/v1/organizations?limit=2&facet=kind")).json()
    assert groups(first, "kind") == {"ngo": 3}
    second = await client.get(f"/v1/organizations?limit=2&cursor={first['page']['next_cursor']}")
    assert second.status_code == 200
    assert [o["id"] for o in second.json()["data"]] == ["org-2"]


async def test_source_facets_name_publishers_and_years(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    bbc = await factories.organization(session, id="bbc", name="BBC News", kind="news_outlet")
    await factories.source(session, publisher=bbc.id, published="2021-05", language="en")
    await factories.source(session, publisher=bbc.id, published="2021-06-01", language="ko")
    await factories.source(session)
    body = (
        await client.get("/v1/sources?facet=publisher&facet=published_year&facet=language")
    ).json()
    assert body["facets"]["publisher"] == [
        {"key": "bbc", "label": "BBC News", "count": 2},
        {"key": None, "label": "Unknown", "count": 1},
    ]
    assert groups(body, "published_year") == {"2021": 2, None: 1}
    assert groups(body, "language") == {"en": 2, "ko": 1}


async def test_stats_count_what_the_client_may_see(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.facility(session, id="a", facility_type="coal_mine", province="north_hamgyong")
    await factories.facility(session, id="b", facility_type="farm")
    await factories.claim(session, id="c1")
    await factories.claim(session, id="c2")
    await factories.claim(session, id="c3", metric="age_years", value=14, unit="years")
    await factories.claim(session, id="c4", protection_level="confidential")
    for number in range(5):
        await factories.testimony(
            session, id=f"t{number}", labour_types=["mining"], period_start="1995"
        )
    await factories.testimony(session, id="late", labour_types=["agriculture"], period_start="2003")
    stats = (await client.get("/v1/stats")).json()
    assert stats["claims"] == {
        "total": 3,
        "by_metric_and_unit": [
            {
                "metric": "persons_count",
                "metric_label": "Persons count",
                "unit": "persons",
                "unit_label": "Persons",
                "count": 2,
            },
            {
                "metric": "age_years",
                "metric_label": "Age years",
                "unit": "years",
                "unit_label": "Years",
                "count": 1,
            },
        ],
    }
    assert stats["facilities"]["total"] == 2
    assert {g["key"]: g["count"] for g in stats["facilities"]["by_province"]} == {
        "north_hamgyong": 1,
        None: 1,
    }
    assert {g["key"]: g["count"] for g in stats["facilities"]["by_type"]} == {
        "coal_mine": 1,
        "farm": 1,
    }
    testimonies = stats["testimonies"]
    assert testimonies["total"] == 6
    assert {g["key"]: g["count"] for g in testimonies["by_decade"]} == {
        "1990": 5,
        "2000": "<5",
        None: 0,
    }
    assert {g["key"]: g["count"] for g in testimonies["by_labour_type"]} == {
        "mining": 5,
        "agriculture": "<5",
        None: 0,
    }
    confidential = await factories.api_key(session, "read:confidential")
    full = (await client.get("/v1/stats", headers=confidential)).json()
    assert full["claims"]["total"] == 4
    assert {g["key"]: g["count"] for g in full["testimonies"]["by_decade"]}["2000"] == 1
    assert (await client.get("/v1/stats?limit=2")).status_code == 400
