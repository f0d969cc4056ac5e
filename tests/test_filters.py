from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories


async def ids(client: httpx.AsyncClient, url: str) -> list[str]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return sorted(record["id"] for record in response.json()["data"])


async def test_organizations_filter_by_kind(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.organization(session, id="kcna", kind="state_media")
    await factories.organization(session, id="nkhr", kind="ngo")
    await factories.organization(session, id="bbc", kind="news_outlet")
    assert await ids(client, "/v1/organizations?kind=ngo") == ["nkhr"]
    assert await ids(client, "/v1/organizations?kind=ngo&kind=state_media") == ["kcna", "nkhr"]


async def test_sources_filters_combine_with_and_repeat_with_or(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    bbc = await factories.organization(session, id="bbc", kind="news_outlet")
    kcna = await factories.organization(session, id="kcna", kind="state_media")
    report = await factories.source(
        session,
        id="kcna-report",
        publisher="kcna",
        source_type="state_media_report",
        published="2021-05-29",
        language="ko",
    )
    await factories.source(
        session,
        id="bbc-article",
        publisher=bbc.id,
        source_type="news_report",
        published="2021-06",
        relays=[report],
    )
    await factories.source(session, id="undated", publisher=kcna.id, source_type="news_report")
    assert await ids(client, "/v1/sources?publisher=kcna") == ["kcna-report", "undated"]
    assert await ids(client, "/v1/sources?publisher=kcna&source_type=news_report") == ["undated"]
    assert await ids(
        client, "/v1/sources?source_type=news_report&source_type=state_media_report"
    ) == ["bbc-article", "kcna-report", "undated"]
    assert await ids(client, "/v1/sources?language=ko") == ["kcna-report"]
    assert await ids(client, "/v1/sources?published_from=2021-06-01") == ["bbc-article"]
    # "2021-06" may be any day of June: it matches a range that starts mid-month.
    assert await ids(client, "/v1/sources?published_from=2021-06-15") == ["bbc-article"]
    assert await ids(client, "/v1/sources?published_to=2021-06-15") == [
        "bbc-article",
        "kcna-report",
    ]
    assert await ids(client, "/v1/sources?published_to=2021-05-31") == ["kcna-report"]
    assert await ids(client, "/v1/sources?relays=kcna-report") == ["bbc-article"]


async def test_source_shows_relays_both_ways(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    report = await factories.source(session, id="kcna-report", source_type="state_media_report")
    await factories.source(session, id="bbc-article", relays=[report])
    origin = (await client.get("/v1/sources/kcna-report")).json()
    relay = (await client.get("/v1/sources/bbc-article")).json()
    assert [s["id"] for s in origin["relayed_by"]] == ["bbc-article"]
    assert [s["id"] for s in relay["relays"]] == ["kcna-report"]


async def test_facilities_filters(client: httpx.AsyncClient, session: AsyncSession) -> None:
    operator = await factories.organization(
        session, id="ministry-of-state-security", kind="state_agency"
    )
    await factories.facility(
        session,
        id="aoji",
        facility_type="coal_mine",
        province="North Hamgyeong",
        location={"latitude": 42.5, "longitude": 130.3, "precision": "approximate"},
    )
    await factories.facility(
        session,
        id="kaechon",
        facility_type="political_prison_camp",
        province="south_pyongan",
        operator=operator.id,
    )
    await factories.facility(session, id="unplaced", facility_type="farm")
    assert await ids(client, "/v1/facilities?province=north_hamgyong") == ["aoji"]
    # Romanisation variants of a province name the same province.
    assert await ids(client, "/v1/facilities?province=North%20Hamgyong") == ["aoji"]
    assert await ids(client, "/v1/facilities?province=Hamgyeongbuk-do") == ["aoji"]
    assert await ids(client, "/v1/facilities?facility_type=coal_mine&facility_type=farm") == [
        "aoji",
        "unplaced",
    ]
    assert await ids(client, "/v1/facilities?operator=ministry-of-state-security") == ["kaechon"]
    assert await ids(client, "/v1/facilities?has_location=true") == ["aoji"]
    assert await ids(client, "/v1/facilities?has_location=false") == ["kaechon", "unplaced"]
    assert await ids(client, "/v1/facilities?province=south_pyongan&facility_type=coal_mine") == []


async def test_testimonies_filters(client: httpx.AsyncClient, session: AsyncSession) -> None:
    mine = await factories.facility(session, id="mine")
    article = await factories.source(
        session, id="article", archived_text="He said: I worked in the mine for forty years."
    )
    await factories.testimony(
        session,
        id="choi",
        facilities=[mine],
        province="north_hamgyong",
        witness_role="survivor",
        labour_types=["mining"],
        period_start="1953",
        period_end="1993",
        excerpts=[{"source": article.id, "quote": "I worked in the mine for forty years."}],
    )
    await factories.testimony(
        session,
        id="david",
        witness_role="survivor",
        labour_types=["school_mobilisation", "agriculture"],
        period_start="2000",
        period_end="2012",
    )
    await factories.testimony(
        session,
        id="insider",
        witness_role="inside_source",
        province="south_pyongan",
        period_end="2021-02",
    )
    assert await ids(client, "/v1/testimonies?facility=mine") == ["choi"]
    assert await ids(client, "/v1/testimonies?province=North%20Hamgyeong") == ["choi"]
    assert await ids(client, "/v1/testimonies?witness_role=inside_source") == ["insider"]
    assert await ids(client, "/v1/testimonies?labour_type=agriculture&labour_type=mining") == [
        "choi",
        "david",
    ]
    assert await ids(client, "/v1/testimonies?source=article") == ["choi"]
    # Overlap: 1953-1993 and 2000-2012 against 1990-2001; an end of "2021-02" covers the month.
    assert await ids(client, "/v1/testimonies?period_from=1990-01-01&period_to=2001-01-01") == [
        "choi",
        "david",
    ]
    assert await ids(client, "/v1/testimonies?period_from=2021-02-28") == ["insider"]
    assert await ids(client, "/v1/testimonies?period_to=1952-12-31") == []


async def test_claims_filters(client: httpx.AsyncClient, session: AsyncSession) -> None:
    kcna = await factories.organization(session, id="kcna")
    nkhr = await factories.organization(session, id="nkhr", kind="ngo")
    mine = await factories.facility(session, id="mine")
    witness = await factories.testimony(session, id="kim")
    article = await factories.source(session, id="article")
    await factories.claim(
        session,
        id="orphans",
        claimant_organization=kcna.id,
        value=700,
        period_end="2021-05",
        source=article.id,
    )
    await factories.claim(
        session,
        id="children",
        claimant_organization=kcna.id,
        value=None,
        value_min=100,
        value_max=999,
        approximation="vague",
    )
    await factories.claim(
        session,
        id="denial",
        claimant_organization=kcna.id,
        stance="denies",
        value=0,
        statement="The state denies forced child labour.",
    )
    await factories.claim(
        session,
        id="survivors",
        claimant_testimony=witness.id,
        metric="survivors",
        value=6,
        about_facility=mine.id,
        period_start="1970",
        period_end="1980",
    )
    await factories.claim(
        session,
        id="at-least",
        claimant_organization=nkhr.id,
        value=670,
        approximation="at_least",
        about_testimony=witness.id,
    )
    assert await ids(client, "/v1/claims?metric=survivors") == ["survivors"]
    assert await ids(client, "/v1/claims?claimant=kim") == ["survivors"]
    assert await ids(client, "/v1/claims?claimant=nkhr&claimant=kim") == ["at-least", "survivors"]
    assert await ids(client, "/v1/claims?stance=denies") == ["denial"]
    assert await ids(client, "/v1/claims?facility=mine") == ["survivors"]
    assert await ids(client, "/v1/claims?testimony=kim") == ["at-least", "survivors"]
    assert await ids(client, "/v1/claims?source=article") == ["orphans"]
    assert await ids(client, "/v1/claims?unit=persons&stance=asserts&claimant=kcna") == [
        "children",
        "orphans",
    ]
    # Ranges overlap the asked range; "at least 670" reaches any larger number.
    assert await ids(client, "/v1/claims?value_min=500&value_max=800") == [
        "at-least",
        "children",
        "orphans",
    ]
    assert await ids(client, "/v1/claims?value_min=5000") == ["at-least"]
    assert await ids(client, "/v1/claims?value_max=6") == ["denial", "survivors"]
    assert await ids(client, "/v1/claims?period_from=2021-05-31") == ["orphans"]
    assert await ids(client, "/v1/claims?period_from=1975-01-01&period_to=1975-12-31") == [
        "survivors"
    ]


async def test_claim_shape(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await factories.claim(
        session,
        id="children",
        value=None,
        value_min=100,
        value_max=999,
        approximation="vague",
        period_end="2021-05-28",
    )
    claim = (await client.get("/v1/claims/children")).json()
    assert claim["value"] is None
    assert (claim["value_min"], claim["value_max"]) == (100, 999)
    assert claim["approximation"] == "vague"
    assert claim["period"] == {"start": None, "end": "2021-05-28"}
    assert claim["claimant"]["type"] == "organization"
