from __future__ import annotations

import json

import httpx
import pytest
import rispy
from pybtex.database import parse_string
from sqlalchemy.ext.asyncio import AsyncSession

from app.sources.models import SourceRelay
from tests import factories

ARTICLE = (
    "On Saturday, a KCNA report said 700 orphans had volunteered to work at factories, farms "
    "and forests."
)


async def kcna_quoted_by_bbc(session: AsyncSession) -> None:
    kcna = await factories.organization(session, id="kcna", name="Korean Central News Agency")
    bbc = await factories.organization(session, id="bbc-news", name="BBC News", kind="news_outlet")
    report = await factories.source(
        session,
        id="kcna-700-orphans",
        title="700 orphans volunteer",
        publisher=kcna.id,
        source_type="state_media_report",
    )
    await factories.source(
        session,
        id="bbc-orphans",
        title="North Korea: Orphans 'volunteer' for mines",
        publisher=bbc.id,
        published="2021-05",
        url="https://example.org/news/orphans",
        archived_text=ARTICLE,
        relays=[report],
        authors=["Laura Bicker"],
    )
    await factories.claim(
        session,
        id="claim-700-orphans",
        claimant_organization=kcna.id,
        source="bbc-orphans",
        quote="700 orphans had volunteered",
        statement="KCNA claims 700 orphans volunteered.",
    )


async def test_claim_citation_carries_quote_locator_and_relay_chain(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await kcna_quoted_by_bbc(session)
    claim = (await client.get("/v1/claims/claim-700-orphans")).json()
    assert claim["claimant"] == {
        "type": "organization",
        "id": "kcna",
        "name": "Korean Central News Agency",
    }
    [citation] = claim["citations"]
    assert citation["source"] == {
        "id": "bbc-orphans",
        "title": "North Korea: Orphans 'volunteer' for mines",
        "publisher": {"id": "bbc-news", "name": "BBC News"},
        "published": "2021-05",
        "url": "https://example.org/news/orphans",
    }
    assert citation["quote"] == "700 orphans had volunteered"
    locator = citation["locator"]
    assert ARTICLE[locator["char_start"] : locator["char_end"]] == citation["quote"]
    assert [s["id"] for s in citation["relay_chain"]] == ["kcna-700-orphans"]
    assert citation["relay_chain"][0]["publisher"]["name"] == "Korean Central News Agency"


async def test_relay_chain_follows_several_hops_and_survives_cycles(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    origin = await factories.source(session, id="origin")
    middle = await factories.source(session, id="middle", relays=[origin])
    await factories.source(session, id="outlet", relays=[middle], archived_text="a quote here")
    # A cycle in the data (origin relays outlet) must not make the chain endless.
    session.add(SourceRelay(relaying_source_id="origin", relayed_source_id="outlet"))
    await session.flush()
    await factories.claim(session, id="hops", source="outlet", quote="a quote here")
    chain = (await client.get("/v1/claims/hops")).json()["citations"][0]["relay_chain"]
    assert [s["id"] for s in chain] == ["middle", "origin"]


async def test_cite_as_gives_permalink_and_access_date(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await kcna_quoted_by_bbc(session)
    for url in (
        "/v1/claims/claim-700-orphans",
        "/v1/sources/bbc-orphans",
        "/v1/organizations/kcna",
    ):
        record = (await client.get(url)).json()
        cite_as = record["cite_as"]
        assert cite_as["permalink"] == f"http://testserver{url}"
        assert cite_as["permalink"] in cite_as["text"]
        assert f"accessed {cite_as['accessed']}" in cite_as["text"]
    claim = (await client.get("/v1/claims/claim-700-orphans")).json()
    assert "KCNA claims 700 orphans volunteered." in claim["cite_as"]["text"]
    assert 'BBC News, "North Korea: Orphans' in claim["cite_as"]["text"]


async def test_testimony_and_facility_citations(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    text = "Mr Choi said he worked in a mine in North Hamgyeong province for 40 years."
    source = await factories.source(session, id="bbc-pows", archived_text=text)
    mine = await factories.facility(
        session,
        id="choi-mine",
        province="north_hamgyong",
        mentions=[{"source": source.id, "quote": "a mine in North Hamgyeong province"}],
        aliases=[{"name": "함경북도 탄광", "language": "ko", "script": "hangul"}],
    )
    await factories.testimony(
        session,
        id="choi",
        facilities=[mine],
        excerpts=[{"source": source.id, "quote": "he worked in a mine"}],
    )
    facility = (await client.get("/v1/facilities/choi-mine")).json()
    testimony = (await client.get("/v1/testimonies/choi")).json()
    assert facility["citations"][0]["quote"] == "a mine in North Hamgyeong province"
    assert facility["aliases"] == [{"name": "함경북도 탄광", "language": "ko", "script": "hangul"}]
    start = text.index("he worked in a mine")
    assert testimony["citations"][0]["locator"] == {"char_start": start, "char_end": start + 19}
    assert testimony["facilities"] == [{"id": "choi-mine", "name": "A coal mine"}]


async def test_source_citation_formats(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await kcna_quoted_by_bbc(session)
    url = "/v1/sources/bbc-orphans/citation"

    csl = await client.get(f"{url}?format=csl-json")
    assert csl.headers["content-type"].startswith("application/vnd.citationstyles.csl+json")
    [item] = json.loads(csl.text)
    assert item["title"] == "North Korea: Orphans 'volunteer' for mines"
    assert item["issued"] == {"date-parts": [[2021, 5]]}
    assert item["author"] == [{"literal": "Laura Bicker"}]

    bibtex = await client.get(url, headers={"Accept": "application/x-bibtex"})
    assert bibtex.headers["content-type"].startswith("application/x-bibtex")
    entry = parse_string(bibtex.text, "bibtex").entries["bbc-orphans"]
    assert entry.fields["title"] == "North Korea: Orphans 'volunteer' for mines"
    assert entry.fields["year"] == "2021"
    assert entry.fields["url"] == "https://example.org/news/orphans"

    ris = await client.get(f"{url}?format=ris")
    [record] = rispy.loads(ris.text)
    assert record["title"] == "North Korea: Orphans 'volunteer' for mines"
    assert record["type_of_reference"] == "NEWS"
    assert record["urls"] == ["https://example.org/news/orphans"]

    text = await client.get(url, headers={"Accept": "text/plain"})
    assert text.headers["content-type"].startswith("text/plain")
    assert "North Korea: Orphans" in text.text
    assert "2021" in text.text


@pytest.mark.parametrize("citation_format", ["csl-json", "bibtex", "ris", "text"])
async def test_citation_of_an_undated_source_without_publisher(
    client: httpx.AsyncClient, session: AsyncSession, citation_format: str
) -> None:
    await factories.source(
        session, id="bare", title="Blood Coal Export from North Korea", source_type="ngo_report"
    )
    response = await client.get(f"/v1/sources/bare/citation?format={citation_format}")
    assert response.status_code == 200
    assert "Blood Coal Export from North Korea" in response.text
