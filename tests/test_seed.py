"""The seed corpus: valid, verbatim, complete where it matters, and loaded idempotently."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from app.cli import cli
from app.seeding.loader import SeedData, SeedError, SeedMode, load_seed, read_seed
from app.settings import SEED_DIR
from tests import factories

SPAM_HOSTS = ("instructure.com", "portfolium.com", "medium.com", "thewyco.com", "t.co/")


@pytest.fixture(scope="module")
def seed() -> SeedData:
    return read_seed(SEED_DIR)


def _texts(seed: SeedData) -> dict[str, str]:
    return {s.id: s.archived_text for s in seed.sources if s.archived_text is not None}


def test_every_document_is_archived_with_its_sha256(seed: SeedData) -> None:
    documents = sorted(p.name for p in (SEED_DIR / "documents").glob("*.txt"))
    assert len(documents) == 5
    archived = {s.archive_sha256 for s in seed.sources if s.archived_text is not None}
    for name in documents:
        assert hashlib.sha256((SEED_DIR / "documents" / name).read_bytes()).hexdigest() in archived


def test_every_quote_stands_verbatim_at_its_locator(seed: SeedData) -> None:
    texts = _texts(seed)
    quotes = [(f"claims/{c.id}", c.source, c.quote, c.locator) for c in seed.claims]
    quotes += [
        (f"testimonies/{t.id}", e.source, e.quote, e.locator)
        for t in seed.testimonies
        for e in t.excerpts
    ]
    quotes += [
        (f"facilities/{f.id}", m.source, m.quote, m.locator)
        for f in seed.facilities
        for m in f.mentions
    ]
    assert len(quotes) > 80
    for label, source, quote, locator in quotes:
        assert source in texts, f"{label} quotes {source}, which has no archived text"
        assert locator is not None, f"{label} has no locator"
        assert texts[source][locator.char_start : locator.char_end] == quote, label


def test_no_url_points_at_the_injected_spam(seed: SeedData) -> None:
    for path in SEED_DIR.glob("*.yaml"):
        for url in re.findall(r"https?://\S+", path.read_text(encoding="utf-8")):
            assert not any(host in url for host in SPAM_HOSTS), f"{path.name}: {url}"
    for source in seed.sources:
        assert source.url is None or not any(h in str(source.url) for h in SPAM_HOSTS)
    contaminated = [s for s in seed.sources if s.archived_text and "instructure" in s.archived_text]
    assert len(contaminated) == 1
    assert contaminated[0].notes is not None
    assert "spam" in contaminated[0].notes.lower()


def test_relay_chains_join_the_cited_sources(seed: SeedData) -> None:
    relayed = {r for s in seed.sources for r in s.relays}
    kinds = {s.id: s.source_type for s in seed.sources}
    assert any(kinds[r] == "state_media_report" for r in relayed), "KCNA reports are relayed"
    assert any(kinds[r] == "ngo_report" for r in relayed), "the NKHR report is relayed"
    assert any(kinds[r] == "government_report" for r in relayed), "the State Department report"


def test_vague_quantities_are_ranges_and_denials_are_claims(seed: SeedData) -> None:
    vague = [c for c in seed.claims if c.approximation == "vague"]
    assert vague
    assert all(c.value_min is not None and c.value_max is not None for c in vague)
    assert any(c.stance == "denies" for c in seed.claims)


async def test_loading_is_idempotent(session: AsyncSession, seed: SeedData) -> None:
    first = await load_seed(session, seed)
    assert first.created["claims"]
    second = await load_seed(session, read_seed(SEED_DIR))
    assert not second.changed
    assert second.unchanged["claims"] == len(seed.claims)


async def test_an_edited_record_changes_only_on_update_and_a_removed_one_is_reported(
    session: AsyncSession, tmp_path: Path
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    edited = tmp_path / "seed"
    shutil.copytree(SEED_DIR, edited)
    claims = yaml.safe_load((edited / "claims.yaml").read_text(encoding="utf-8"))
    removed = claims.pop()
    old_statement = claims[0]["statement"]
    claims[0]["statement"] = "An edited statement."
    (edited / "claims.yaml").write_text(yaml.safe_dump(claims, allow_unicode=True), "utf-8")
    kept = await load_seed(session, read_seed(edited))
    assert not kept.changed
    [difference] = kept.kept
    assert difference.record == f"claims/{claims[0]['id']}"
    assert difference.changes == {
        "statement": {"from": old_statement, "to": "An edited statement."}
    }
    assert kept.unlisted["claims"] == [removed["id"]]
    assert f"  not in the seed files (kept): claims/{removed['id']}" in kept.lines()
    report = await load_seed(session, read_seed(edited), mode=SeedMode.update)
    assert report.updated == {"claims": [claims[0]["id"]]}
    assert [d.record for d in report.brought_in_line] == [difference.record]


async def test_a_correction_made_through_the_api_survives_every_seed_load(
    client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    writer = await factories.api_key(session, "write", "read:confidential")
    etag = (await client.get("/v1/organizations/kcna", headers=writer)).headers["etag"]
    corrected = await client.patch(
        "/v1/organizations/kcna?reason=The+agency%27s+own+spelling",
        json={"description": "Corrected through the API."},
        headers=writer | {"If-Match": etag},
    )
    assert corrected.status_code == 200, corrected.text

    async def kcna() -> tuple[str, int]:
        body = (await client.get("/v1/organizations/kcna/revisions")).json()
        description = (await client.get("/v1/organizations/kcna")).json()["description"]
        return description, len(body["data"])

    assert await kcna() == ("Corrected through the API.", 2)
    again = await load_seed(session, read_seed(SEED_DIR))  # what every start does
    assert not again.changed
    assert [d.record for d in again.kept] == ["organizations/kcna"]
    update = await load_seed(session, read_seed(SEED_DIR), mode=SeedMode.update)
    assert not update.changed  # the correction was written by the API: left alone
    [kept] = update.kept
    assert kept.written_by == "api"
    assert kept.changes["description"]["from"] == "Corrected through the API."
    assert await kcna() == ("Corrected through the API.", 2)
    revisions = (await client.get("/v1/organizations/kcna/revisions")).json()["data"]
    assert [r["written_by"] for r in revisions] == ["seed", "api"]

    forced = await load_seed(session, read_seed(SEED_DIR), mode=SeedMode.update, force=True)
    assert forced.updated == {"organizations": ["kcna"]}
    description, count = await kcna()
    assert description != "Corrected through the API."
    assert count == 3


async def test_misplaced_quote_is_a_seed_error(session: AsyncSession, tmp_path: Path) -> None:
    edited = tmp_path / "seed"
    shutil.copytree(SEED_DIR, edited)
    claims = yaml.safe_load((edited / "claims.yaml").read_text(encoding="utf-8"))
    claims[0]["quote"] = "words nobody wrote"
    (edited / "claims.yaml").write_text(yaml.safe_dump(claims, allow_unicode=True), "utf-8")
    with pytest.raises(SeedError, match=f"claims/{claims[0]['id']}"):
        await load_seed(session, read_seed(edited))


def test_unresolved_reference_is_a_seed_error(tmp_path: Path) -> None:
    edited = tmp_path / "seed"
    shutil.copytree(SEED_DIR, edited)
    claims = yaml.safe_load((edited / "claims.yaml").read_text(encoding="utf-8"))
    claims[0]["about_facility"] = "no-such-facility"
    (edited / "claims.yaml").write_text(yaml.safe_dump(claims, allow_unicode=True), "utf-8")
    with pytest.raises(
        SeedError, match="about_facility: no facility has the id 'no-such-facility'"
    ):
        read_seed(edited)


# Numbers a careful reader finds in the five documents, each with words of its quote.
NUMBERS = [
    ("persons_count", 700, "700 orphans"),
    ("persons_count", 50_000, "50,000"),
    ("persons_count", 670, "670"),
    ("population", 26_000_000, "26 million"),
    ("duration_years", 40, "40 years"),
    ("persons_count", 15, "15 people"),
    ("age_years", 7, "seven"),
    ("age_years", 16, "16"),
    ("persons_count", 23, "23"),
    ("survivors", 6, "six"),
    ("trade_share", 95.4, "95.4 per cent"),
    ("trade_share", 67.1, "67.1 per cent"),
    ("facility_count", 5, "five labour camps"),
    ("facility_count", 16, "16 re-education"),
    ("wage", 5000, "5,000 KPW"),
    ("working_hours_per_day", 8, "eight hours"),
    ("age_years", 8, "age of eight"),
    ("duration_years", 10, "10-year periods"),
    ("persons_count", 500, "hundreds of children"),
    ("persons_count", 30, "dozens of orphan children"),
]


@pytest.mark.parametrize(("metric", "number", "words"), NUMBERS)
async def test_numbers_in_the_documents_are_found_through_claims_filters(
    client: httpx.AsyncClient, session: AsyncSession, metric: str, number: float, words: str
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    # Some numbers rest on confidential sources: a researcher with full access finds all.
    researcher = await factories.api_key(session, "read:confidential")
    response = await client.get(
        "/v1/claims",
        params={"metric": metric, "value_min": number, "value_max": number},
        headers=researcher,
    )
    claims = response.json()["data"]
    matching = [c for c in claims if words in c["citations"][0]["quote"]]
    assert matching, f"no {metric} claim of {number} quoting {words!r}"
    citation = matching[0]["citations"][0]
    assert citation["locator"] is not None
    assert citation["source"]["publisher"] is not None


async def test_served_corpus_has_no_spam_urls(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    sources = (await client.get("/v1/sources?limit=200")).json()["data"]
    claims = (await client.get("/v1/claims?limit=200")).json()["data"]
    text = str(sources) + str(claims)
    assert not any(host in text for host in SPAM_HOSTS)


def test_seed_stats_prints_coverage_per_type_and_document() -> None:
    result = CliRunner().invoke(cli, ["seed", "stats"])
    assert result.exit_code == 0, result.output
    seed = read_seed(SEED_DIR)
    assert f"  claims: {len(seed.claims)}\n" in result.output
    assert f"  testimonies: {len(seed.testimonies)}\n" in result.output
    for source_id in _texts(seed):
        assert re.search(rf"{source_id}: \d+ claims, \d+ testimonies", result.output)


def test_seed_stats_lists_the_numbers_no_claim_covers() -> None:
    result = CliRunner().invoke(cli, ["seed", "stats"])
    assert result.exit_code == 0, result.output
    uncovered = re.findall(r"^    '([^']+)' at (\d+)-\d+: ", result.output, re.MULTILINE)
    # What is left is not a fact of scale: a party meeting's ordinals, a report year, "one of"
    # phrases, two palms, and a day of the month without a year.
    assert uncovered == [
        ("4th", "1839"),
        ("8th", "1866"),
        ("2020", "3512"),
        ("one", "1366"),
        ("one", "249"),
        ("3", "752"),
        ("two", "1005"),
        ("one", "2892"),
    ]
    assert (
        "  bbc-2021-south-korean-pows-coal-mines: 19 numbers, 18 in claims' quotes, "
        "0 in dates the source records give, 1 not covered\n"
    ) in result.output


def test_numbers_are_found_by_a_simple_rule() -> None:
    from app.seeding.stats import numbers_in

    text = (
        "About 26 million people; 50,000 prisoners; 95.4 per cent; the 4th plenary; "
        "twenty-three of them; hundreds of children; Covid19 and COVID-19; see /4344/Home; "
        "the first grade; 1990-1995."
    )
    found = [n.text for n in numbers_in(text)]
    assert found == [
        "26",
        "million",
        "50,000",
        "95.4",
        "4th",
        "twenty-three",
        "hundreds",
        "1990",
        "1995",
    ]
    spam = text.index("see")
    assert "4344" not in [n.text for n in numbers_in(text, ((spam, spam + 20),))]


def test_statements_name_their_claimant(seed: SeedData) -> None:
    sayers = {
        "BBC News": "bbc-news",
        "AsiaNews": "asianews",
        "Daily NK": "daily-nk",
        "NK News": "nk-news",
        "KCNA": "kcna",
    }
    for claim in seed.claims:
        for name, organization in sayers.items():
            if re.match(rf"{name} (says|reports|claims)\b", claim.statement):
                assert claim.claimant_organization == organization, claim.id


def test_a_passage_that_reports_a_relayed_source_says_so(seed: SeedData) -> None:
    sources = {s.id: s for s in seed.sources}
    for claim in seed.claims:
        source = sources[claim.source]
        if claim.claimant_organization in (None, source.publisher):
            continue  # a witness, or the publisher in its own words
        reported = [r for r in source.relays if sources[r].publisher == claim.claimant_organization]
        if reported:
            assert claim.relayed_from in reported, claim.id


def test_wording_keeps_the_force_of_the_text(seed: SeedData) -> None:
    claims = {c.id: c for c in seed.claims}
    assert "seized" in claims["claim-bbc-50000-pows-seized-1953"].statement
    assert "from age seven" in claims["claim-nkhr-survivors-age-starting-mine-work"].statement
    kim = claims["claim-kim-hye-sook-age-starting-mine-work"]
    assert kim.claimant_organization == "bbc-news"
    assert "16" in kim.statement
    texts = [c.statement for c in seed.claims] + [t.summary for t in seed.testimonies]
    texts += [f.description or "" for f in seed.facilities]
    for softened in ("held on to", "as young children", "in her teens", "hundreds of fellow"):
        assert not any(softened in text for text in texts), softened


def test_the_dates_the_documents_give_are_recorded(seed: SeedData) -> None:
    published = {s.id: str(s.published) if s.published else None for s in seed.sources}
    assert published["bbc-2021-north-korea-orphans-volunteer"] == "2021"
    # "In February, the BBC reported on allegations that ... prisoners of war ..." (000).
    assert published["bbc-2021-south-korean-pows-coal-mines"] == "2021-02"
    assert published["kcna-report-700-orphans-volunteer"] == "2021"
    assert published["nknews-2024-ask-a-north-korean-forced-labor"] == "2024-05-21"


def test_levels_protect_people_and_say_why(seed: SeedData) -> None:
    # Every account is published, under the publisher's own pseudonym or description.
    assert all(t.protection_level == "public" for t in seed.testimonies)
    inside = {t.id for t in seed.testimonies if t.witness_role == "inside_source"}
    for claim in seed.claims:
        if claim.protection_level != "public" or claim.claimant_level != "public":
            assert claim.protection_reason, claim.id
        if claim.claimant_testimony in inside:
            assert claim.claimant_level != "public", claim.id
            assert claim.claimant_description, claim.id


async def test_published_facts_reach_anonymous_clients_with_their_quotes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    hours = (await client.get("/v1/claims?metric=working_hours_per_day")).json()["data"]
    [claim] = hours
    assert claim["value"] == 8
    assert claim["citations"][0]["quote"] is not None
    assert claim["claimant"]["withheld"] is True
    assert claim["claimant"]["name"] == "an unnamed source inside North Korea quoted by Daily NK"
    pows = (await client.get("/v1/claims/claim-bbc-50000-pows-seized-1953")).json()
    assert "50,000" in pows["citations"][0]["quote"]
    assert pows["disclosure"] == {"level": "public", "coarsened": False, "withheld": []}
