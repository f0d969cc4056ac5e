from __future__ import annotations

import json

import httpx
import pytest
import rispy
from pybtex.database import parse_string
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.schemas import QuoteMismatchError
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
        relayed_from="kcna-700-orphans",
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
        "withheld": False,
    }
    [citation] = claim["citations"]
    assert citation["source"] == {
        "id": "bbc-orphans",
        "title": "North Korea: Orphans 'volunteer' for mines",
        "title_supplied": False,
        "publisher": {"id": "bbc-news", "name": "BBC News"},
        "published": "2021-05",
        "url": "https://example.org/news/orphans",
    }
    assert citation["quote"] == "700 orphans had volunteered"
    locator = citation["locator"]
    assert ARTICLE[locator["char_start"] : locator["char_end"]] == citation["quote"]
    assert [s["id"] for s in citation["relay_chain"]] == ["kcna-700-orphans"]
    assert citation["relay_chain"][0]["publisher"]["name"] == "Korean Central News Agency"


async def test_relay_chain_follows_what_the_quote_reports_to_the_origin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    origin = await factories.source(session, id="origin")
    middle = await factories.source(session, id="middle", relays=[origin])
    other = await factories.source(session, id="unrelated-report")
    await factories.source(
        session, id="outlet", relays=[middle, other], archived_text="a quote here"
    )
    await factories.claim(
        session, id="hops", source="outlet", quote="a quote here", relayed_from="middle"
    )
    chain = (await client.get("/v1/claims/hops")).json()["citations"][0]["relay_chain"]
    # Only what this quote reports, not the outlet's other relay.
    assert [s["id"] for s in chain] == ["middle", "origin"]


async def test_relay_chain_ends_on_a_cycle(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await factories.source(session, id="first")
    second = await factories.source(session, id="second", relays=[first])
    session.add(SourceRelay(relaying_source_id="first", relayed_source_id="second"))
    await factories.source(session, id="outlet", relays=[second], archived_text="words")
    await factories.claim(
        session, id="cycle", source="outlet", quote="words", relayed_from="second"
    )
    chain = (await client.get("/v1/claims/cycle")).json()["citations"][0]["relay_chain"]
    assert [s["id"] for s in chain] == ["second", "first"]


async def test_own_words_have_no_relay_chain(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    report = await factories.source(session, id="kcna-report")
    await factories.source(session, id="bbc", relays=[report], archived_text="Our own words.")
    await factories.claim(session, id="own", source="bbc", quote="Our own words.")
    citation = (await client.get("/v1/claims/own")).json()["citations"][0]
    assert citation["relay_chain"] == []


async def test_relayed_from_must_be_a_relay_of_the_source(session: AsyncSession) -> None:
    await factories.source(session, id="kcna-report")
    await factories.source(session, id="bbc", archived_text="Quoted words.")
    with pytest.raises(QuoteMismatchError, match="not among the relays of 'bbc'"):
        await factories.claim(
            session, source="bbc", quote="Quoted words.", relayed_from="kcna-report"
        )


async def test_claims_reported_from_a_source_are_found_by_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await kcna_quoted_by_bbc(session)
    for source_id in ("kcna-700-orphans", "bbc-orphans"):
        body = (await client.get(f"/v1/claims?source={source_id}")).json()
        assert [c["id"] for c in body["data"]] == ["claim-700-orphans"]


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
    assert entry.type == "article"
    assert entry.fields["journal"] == "BBC News"
    assert entry.fields["title"] == "North Korea: Orphans 'volunteer' for mines"
    assert entry.fields["year"] == "2021"
    assert entry.fields["month"] == "May"
    assert entry.fields["url"] == "https://example.org/news/orphans"

    ris = await client.get(f"{url}?format=ris")
    assert ris.text.startswith("TY  - NEWS")
    [record] = rispy.loads(ris.text)
    assert record["title"] == "North Korea: Orphans 'volunteer' for mines"
    assert record["type_of_reference"] == "NEWS"
    assert record["urls"] == ["https://example.org/news/orphans"]

    text = await client.get(url, headers={"Accept": "text/plain"})
    assert text.headers["content-type"].startswith("text/plain")
    assert "North Korea: Orphans" in text.text
    assert "2021" in text.text
    assert text.text.count("BBC News") == 1


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


async def test_archived_text_is_served_for_checking_locators(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await kcna_quoted_by_bbc(session)
    reader = await factories.api_key(session)  # archived texts are served to keys
    claim = (await client.get("/v1/claims/claim-700-orphans")).json()
    response = await client.get("/v1/sources/bbc-orphans/text", headers=reader)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == ARTICLE
    locator = claim["citations"][0]["locator"]
    assert (
        response.text[locator["char_start"] : locator["char_end"]] == claim["citations"][0]["quote"]
    )
    source = (await client.get("/v1/sources/bbc-orphans")).json()
    assert response.headers["etag"] == f'"{source["archive_sha256"]}"'
    missing = await client.get("/v1/sources/kcna-700-orphans/text", headers=reader)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("suffix", "format", "media_type"),
    [
        ("bib", "bibtex", "application/x-bibtex"),
        ("ris", "ris", "application/x-research-info-systems"),
        ("txt", "text", "text/plain"),
    ],
)
async def test_each_citation_format_has_a_path_of_its_own(
    client: httpx.AsyncClient, session: AsyncSession, suffix: str, format: str, media_type: str
) -> None:
    await factories.source(session, id="blood-coal", title="Blood Coal Export")
    own = await client.get(f"/v1/sources/blood-coal/citation.{suffix}")
    asked = await client.get(f"/v1/sources/blood-coal/citation?format={format}")
    assert own.status_code == 200
    assert own.headers["content-type"].split(";")[0] == media_type
    assert own.text == asked.text
    missing = await client.get(f"/v1/sources/no-such-source/citation.{suffix}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
