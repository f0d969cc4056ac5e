"""Search: full text over what each client is shown, names across romanisations, `q` on every
list, and the documents kept in step with every write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.organizations.models import Organization
from app.organizations.repository import save_organization
from app.organizations.schemas import OrganizationCreate
from app.rendering.indexing import index_missing
from app.search import query
from app.search.folding import fold_name
from app.search.models import SearchDocument
from tests import factories
from tests.test_pagination import pages

TEXT = (
    "The witness from Onsong says he was sent to the mine. "
    "He recalls the word kimchijjigae and the number 4242."
)


async def search(client: httpx.AsyncClient, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["data"]
    return results


def ids(results: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in results]


@pytest.mark.parametrize(
    ("written", "asked"),
    [
        ("Kaech'ŏn", "Kaechon"),
        ("Kaechon", "Gaecheon"),
        ("Kaechon", "Kae-chon"),
        ("Kaechon", "Kaech\u2019ŏn"),
        ("Hamgyŏng", "Hamgyeong"),
        ("Hamgyeong", "Hamgyong"),
        ("Chŏngŏ-ri", "Jeongeori"),
        ("Hoeryŏng", "Hoeryeong"),
    ],
)
def test_romanisations_fold_to_one_key(written: str, asked: str) -> None:
    assert fold_name(written) == fold_name(asked)


def test_folding_keeps_hangul_and_distinct_names_apart() -> None:
    assert fold_name("개천") == "개천"
    assert fold_name("Kaechon") != fold_name("Kaesong")


async def test_facility_names_match_across_spellings_and_typos(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.facility(
        session,
        id="kaechon",
        name="Kaech'ŏn internment camp",
        aliases=[
            {"name": "개천", "language": "ko", "script": "hangul"},
            {"name": "Gaecheon", "language": "ko", "script": "revised_romanization"},
        ],
    )
    await factories.facility(session, id="aoji", name="Aoji coal mine")
    for spelling in ("Kaechon", "kaech'on", "Gaecheon", "Kae-chon", "KAECHON", "개천", "Kaechn"):
        assert ids(await search(client, spelling)) == ["kaechon"], spelling
    assert await search(client, "Hoeryong") == []
    listed = (await client.get("/v1/facilities", params={"q": "Gaechon"})).json()["data"]
    assert [f["id"] for f in listed] == ["kaechon"]


async def test_organization_and_witness_names_match_across_spellings(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.organization(
        session, id="korea-rodong", name="Rodong Sinmun", aliases=["Nodong Sinmun", "로동신문"]
    )
    await factories.testimony(session, id="cheol", witness_pseudonym="Kim Chŏl-su")
    assert ids(await search(client, "Rodong Shinmun")) == ["korea-rodong"]
    assert ids(await search(client, "로동신문")) == ["korea-rodong"]
    assert ids(await search(client, "Kim Cheolsu")) == ["cheol"]
    listed = await client.get("/v1/testimonies", params={"q": "Kim Cheol-su"})
    assert [t["id"] for t in listed.json()["data"]] == ["cheol"]


async def test_full_text_ranks_stems_highlights_and_types(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.facility(session, id="quarry", name="Limestone quarry", description="Miners.")
    await factories.facility(
        session, id="farm", name="State farm", description="Former miners <b>& others</b>."
    )
    source = await factories.source(
        session, id="report", title="Report on mining", notes="It names two quarries."
    )
    results = await search(client, "quarry")
    assert ids(results) == ["quarry", "report"]  # a name outranks a note, stemmed
    assert results[0]["type"] == "facility"
    assert results[0]["url"].endswith("/v1/facilities/quarry")
    assert results[0]["score"] >= results[1]["score"] > 0
    assert "<mark>quarry</mark>" in results[0]["snippet"].lower()
    farm = (await search(client, "miners", type="facility"))[-1]
    assert farm["id"] == "farm"
    # Stemming (miner finds miners); the text is escaped around the marks, and markup in it
    # is left out (ts_headline drops tags).
    assert farm["snippet"] == "State farm\nFormer <mark>miners</mark>  &amp; others"
    assert ids(await search(client, "quarry", type="source")) == [source.id]
    assert ids(await search(client, '"state farm"')) == ["farm"]
    assert ids(await search(client, "miners -former")) == ["quarry"]
    assert await search(client, "the") == []  # only a stop word: nothing, not everything


async def test_search_pages_follow_the_ranking_without_repeats(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for number in range(5):
        await factories.facility(
            session, id=f"mine-{number}", name="Mine " + "coal " * number, description="Coal."
        )
    seen: list[str] = []
    url: str | None = "/v1/search?q=coal&limit=2"
    while url:
        page = (await client.get(url)).json()
        seen += ids(page["data"])
        url = page["links"]["next"]
    assert sorted(seen) == [f"mine-{n}" for n in range(5)]
    assert seen[0] == "mine-4"  # the most mentions first
    first = (await client.get("/v1/search?q=coal&limit=2")).json()
    other = await client.get(f"/v1/search?q=mine&limit=2&cursor={first['page']['next_cursor']}")
    assert other.status_code == 400


@pytest.fixture
def three_ranked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search ranks its 3 most recently changed matches (500 in service)."""
    monkeypatch.setattr(query, "RANKED", 3)


# Facilities named for coal, by the year they last changed.
COAL = {
    "pit": ("Coal coal coal pit", 2021),
    "mine": ("Coal mine", 2022),
    "works": ("Coal coal works", 2023),
    "farm": ("State farm, digging coal", 2024),
    "depot": ("Coal depot", 2025),
}


async def changed_in(session: AsyncSession, row: Any, year: int) -> None:
    """As if the record had last changed in `year` (a transaction's writes share one time)."""
    await factories.touch(session, row, datetime(year, 6, 1, tzinfo=UTC))
    session.expire(row)  # rendered again with it when the next request indexes it


@pytest.fixture
async def coal(session: AsyncSession) -> None:
    for record_id, (name, year) in COAL.items():
        await changed_in(session, await factories.facility(session, id=record_id, name=name), year)


@pytest.mark.usefixtures("three_ranked", "coal")
async def test_the_most_recently_changed_matches_are_ranked_the_rest_follow_newest_first(
    client: httpx.AsyncClient,
) -> None:
    (everything,) = await pages(client, "/v1/search?q=coal&limit=10")
    found = everything["data"]
    # The three newest, best first; beyond them the others, newest first, scored too.
    ranked, beyond = found[:3], found[3:]
    assert {r["id"] for r in ranked} == {"depot", "farm", "works"}
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    assert ranked[0]["id"] == "works"  # two mentions in the name
    assert ids(beyond) == ["mine", "pit"]  # though "pit" names it three times
    assert all(r["score"] > 0 for r in found)
    assert everything["page"]["total"] == ">3"
    # Pages of two cross from the ranked results to the others without a repeat or a gap,
    # every one telling that more than three match.
    walked = await pages(client, "/v1/search?q=coal&limit=2")
    assert [ids(page["data"]) for page in walked] == [
        ids(found[:2]),
        ids(found[2:4]),
        ids(found[4:]),
    ]
    assert {page["page"]["total"] for page in walked} == {">3"}
    # A page that ends exactly where the ranked results do leads on to the others.
    walked = await pages(client, "/v1/search?q=coal&limit=3")
    assert [ids(page["data"]) for page in walked] == [ids(ranked), ids(beyond)]
    # When no more match than are ranked, all are ranked and counted exactly.
    exact = (await client.get("/v1/search?q=depot%20or%20farm%20or%20pit")).json()
    assert exact["page"]["total"] == 3
    assert sorted(ids(exact["data"])) == ["depot", "farm", "pit"]


@pytest.mark.usefixtures("three_ranked", "coal")
async def test_matches_older_than_the_window_are_ranked_alike(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The four newest documents name no coal: the ranked ones are found among all matches.
    monkeypatch.setattr(query, "WINDOW", 4)
    monkeypatch.setattr(query, "_edges", {})
    for number in range(4):
        zinc = await factories.facility(
            session, id=f"zinc-{number}", name="Zinc works", facility_type="factory"
        )
        await changed_in(session, zinc, 2026)
    (found,) = await pages(client, "/v1/search?q=coal&limit=10")
    assert sorted(ids(found["data"][:3])) == ["depot", "farm", "works"]
    assert ids(found["data"][3:]) == ["mine", "pit"]
    assert found["page"]["total"] == ">3"
    walked = await pages(client, "/v1/search?q=coal&limit=2")
    assert [result for page in walked for result in ids(page["data"])] == ids(found["data"])


@pytest.mark.usefixtures("three_ranked", "coal")
async def test_the_ranked_matches_are_those_the_client_may_see(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    secret = await factories.testimony(
        session,
        id="collier",
        witness_pseudonym="Collier",
        protection_level="confidential",
        protection_reason="A test record.",
        summary="Coal, coal and more coal.",
    )
    await changed_in(session, secret, 2026)
    confidential = await factories.api_key(session, "read:confidential")
    writer = await factories.api_key(session, "write")
    anonymous = await pages(client, "/v1/search?q=coal&limit=10")
    assert ids(anonymous[0]["data"][:3]) == ["works", "depot", "farm"]
    # The confidential testimony, newest of all, takes a ranked place for a client who may
    # read it, and for no one else.
    response = await client.get("/v1/search?q=coal&limit=10", headers=confidential)
    shown = response.json()["data"]
    assert "collier" in ids(shown[:3])
    assert ids(shown[3:]) == ["works", "mine", "pit"]
    # A retracted record leaves the ranked ones (and its place to the next newest) unless
    # asked for.
    retracted = await client.delete(
        "/v1/facilities/depot?reason=duplicate", headers=writer | {"If-Match": '"1-public"'}
    )
    assert retracted.status_code == 200, retracted.text
    (after,) = await pages(client, "/v1/search?q=coal&limit=10")
    assert sorted(ids(after["data"][:3])) == ["farm", "mine", "works"]
    assert ids(after["data"][3:]) == ["pit"]
    (everything,) = await pages(client, "/v1/search?q=coal&limit=10&include_retracted=true")
    assert "depot" in ids(everything["data"][:3])  # changed last of all: by its retraction
    # A cursor is bound to the client's tier and to the search, past the ranked ones too.
    first = (await client.get("/v1/search?q=coal&limit=4")).json()
    cursor = first["page"]["next_cursor"]
    other = await client.get(f"/v1/search?q=coal&limit=4&cursor={cursor}", headers=confidential)
    assert other.status_code == 400


@pytest.mark.parametrize(
    "query",
    ["", "q=", "q=%20%20", "q=" + "x" * 201, "q=coal&type=person", "q=coal&limit=0"],
)
async def test_bad_searches_are_problems(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/v1/search?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_q_filters_every_list_with_the_other_filters(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.organization(session, id="nkdb", name="NKDB", kind="ngo")
    source = await factories.source(session, id="orphan-report", title="Orphans sent to mines")
    await factories.claim(
        session, id="orphans", statement="700 orphans volunteered.", source=source.id
    )
    await factories.claim(
        session, id="soldiers", statement="300 soldiers built a dam.", quote="300 soldiers"
    )
    await factories.claim(
        session, id="orphan-age", statement="Orphans aged 14.", metric="age_years", unit="years"
    )
    await factories.testimony(session, id="orphan", summary="An orphan describes the mine.")

    async def listed(path: str, **params: str) -> list[str]:
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["data"]]

    assert await listed("/v1/claims", q="orphans") == ["orphan-age", "orphans"]
    assert await listed("/v1/claims", q="orphans", metric="age_years") == ["orphan-age"]
    assert await listed("/v1/claims", q="orphans", count="true") == ["orphan-age", "orphans"]
    assert await listed("/v1/sources", q="orphan") == ["orphan-report"]
    assert await listed("/v1/testimonies", q="orphans") == ["orphan"]
    assert await listed("/v1/organizations", q="nkdb") == ["nkdb"]
    assert await listed("/v1/organizations", q="orphans") == []
    bad = await client.get("/v1/claims", params={"q": " "})
    assert bad.status_code == 422


@pytest.fixture
async def protected(session: AsyncSession) -> None:
    source = await factories.source(session, id="interviews", archived_text=TEXT)
    await factories.testimony(
        session,
        id="kim",
        witness_pseudonym="Kim",
        protection_level="restricted",
        county="Onsong",
        summary="A former miner describes the shifts.",
        excerpts=[{"source": source.id, "quote": "the word kimchijjigae"}],
    )
    await factories.testimony(
        session,
        id="park",
        witness_pseudonym="Pak Yŏng-ho",
        protection_level="confidential",
        summary="A guard describes the camp.",
    )
    await factories.claim(
        session,
        id="kim-number",
        statement="The witness counted prisoners.",
        claimant_testimony="kim",
        about_testimony="kim",
        source=source.id,
        quote="the number 4242",
        notes="Counted by the shift roster.",
    )


@pytest.mark.usefixtures("protected")
async def test_search_matches_only_what_the_client_is_shown(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    restricted = await factories.api_key(session, "read:restricted")
    confidential = await factories.api_key(session, "read:confidential")

    async def found(q: str, headers: dict[str, str] | None = None) -> list[str]:
        response = await client.get("/v1/search", params={"q": q}, headers=headers or {})
        return [f"{r['type']}/{r['id']}" for r in response.json()["data"]]

    # The county, the quotes and the notes are withheld from anonymous clients ...
    for withheld in ("Onsong", "kimchijjigae", "4242", "roster"):
        assert [f for f in await found(withheld) if f != "source/interviews"] == [], withheld
    # ... what they are shown is searchable ...
    assert await found("shifts") == ["testimony/kim"]
    assert await found("prisoners") == ["claim/kim-number"]
    # ... and a client with read:restricted finds the full text.
    assert "testimony/kim" in await found("Onsong", restricted)
    assert "testimony/kim" in await found("kimchijjigae", restricted)
    assert "claim/kim-number" in await found("roster", restricted)
    # A confidential testimony is unknown to all but read:confidential, by text or name.
    for q in ("guard", "Pak Yong-ho", "Bak Yeongho"):
        assert await found(q) == [], q
        assert await found(q, restricted) == [], q
        assert await found(q, confidential) == ["testimony/park"], q
    listed = await client.get("/v1/testimonies", params={"q": "Onsong"})
    assert listed.json()["data"] == []
    snippet = (await search(client, "shifts"))[0]["snippet"]
    assert "Onsong" not in snippet
    assert "kimchijjigae" not in snippet


async def test_writes_keep_the_documents_in_step(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    writer = await factories.api_key(session, "write")
    await factories.facility(session, id="mine", name="Ogye mine")
    assert ids(await search(client, "Ogye")) == ["mine"]
    renamed = await client.patch(
        "/v1/facilities/mine",
        json={"name": "Sangnong mine"},
        headers=writer | {"If-Match": '"1-public"'},
    )
    assert renamed.status_code == 200, renamed.text
    assert await search(client, "Ogye") == []
    assert ids(await search(client, "Sangnong")) == ["mine"]
    retracted = await client.delete(
        "/v1/facilities/mine?reason=duplicate", headers=writer | {"If-Match": '"2-public"'}
    )
    assert retracted.status_code == 200, retracted.text
    assert await search(client, "Sangnong") == []
    assert ids(await search(client, "Sangnong", include_retracted="true")) == ["mine"]
    assert (await client.get("/v1/facilities?q=Sangnong")).json()["data"] == []


async def test_a_testimony_made_stricter_takes_its_claims_documents_along(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # A key that reads restricted records in full: it may make a record restricted.
    writer = await factories.api_key(session, "write", "read:restricted")
    await factories.testimony(session, id="lee", witness_pseudonym="Lee")
    await factories.claim(
        session,
        id="lee-claim",
        statement="Lee counted the orphans.",
        claimant_testimony="lee",
        quote="700 orphans had volunteered",
    )
    assert ids(await search(client, "volunteered")) == ["lee-claim"]
    changed = await client.patch(
        "/v1/testimonies/lee",
        json={"protection_level": "restricted", "protection_reason": "Her dates identify her."},
        headers=writer | {"If-Match": '"1-restricted"'},
    )
    assert changed.status_code == 200, changed.text
    # The quote is now withheld from anonymous clients, and so unsearchable for them.
    assert ids(await search(client, "volunteered")) == []
    assert ids(await search(client, "orphans")) == ["lee-claim"]  # the statement stays


async def test_every_record_has_its_documents_and_missing_ones_are_rebuilt(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.claim(session, id="dam", statement="Workers built the dam.")
    await factories.facility(session, id="dam-site", name="Dam site")
    assert sorted(ids(await search(client, "dam"))) == ["dam", "dam-site"]
    await session.execute(delete(SearchDocument).where(SearchDocument.record_id == "dam-site"))
    assert ids(await search(client, "dam")) == ["dam"]
    rebuilt = await index_missing(session)
    assert rebuilt == 1
    assert sorted(ids(await search(client, "dam"))) == ["dam", "dam-site"]
    kinds = await session.scalars(select(func.count(func.distinct(SearchDocument.kind))))
    assert kinds.one() == 4  # the claim, its source and claimant, the facility


async def test_a_commit_with_unindexed_records_is_refused(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        data = OrganizationCreate(id="never-stored", name="Never stored", kind="ngo")
        save_organization(session, data, None)
        await session.flush()
        with pytest.raises(RuntimeError, match="search documents"):
            await session.commit()
        await session.rollback()
    async with sessions() as session:
        assert await session.get(Organization, "never-stored") is None
