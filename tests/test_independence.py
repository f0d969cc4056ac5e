"""What is independent, on the hard cases: one claimant is one origin however many outlets
repeat it, only claims of the same fact compare, and a dispute of a denial conflicts with it.
Then the seed: the counts and relations of the claims its corrections were about.

The records are written through the write path (tests/factories.py) and read over HTTP.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.organizations.models import Organization
from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from app.sources.models import Source
from tests import factories
from tests.test_corroboration import listed, related, retract, sources_of

AGES = {"metric": "age_years", "unit": "years", "quote": "aged"}
DENIAL = {"value": 0, "stance": "denies", "quote": "denies"}


async def news(session: AsyncSession, outlet: Organization, *relays: Source) -> Source:
    return await factories.source(session, publisher=outlet.id, relays=list(relays))


def relations(body: dict[str, Any]) -> dict[str, set[str]]:
    return {relation: set(listed(body, relation)) for relation in ("agrees", "conflicts")}


UNRELATED: dict[str, set[str]] = {"agrees": set(), "conflicts": set()}


async def test_state_media_quoted_by_two_articles_is_one_origin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    kcna = await factories.organization(session, id="kcna")
    bbc = await factories.organization(session, id="bbc", name="BBC News", kind="news_outlet")
    report = await factories.source(session, id="kcna-report", publisher=kcna.id)
    first, second = await news(session, bbc, report), await news(session, bbc, report)
    await factories.claim(
        session,
        id="seven-hundred",
        claimant_organization=kcna.id,
        source=first.id,
        relayed_from=report.id,
    )
    # The second article reports KCNA in its own words, naming no report: still KCNA.
    await factories.claim(
        session,
        id="hundreds",
        claimant_organization=kcna.id,
        source=second.id,
        value=None,
        value_min=100,
        value_max=999,
        approximation="vague",
    )
    body = await related(client, "seven-hundred")
    assert relations(body) == {"agrees": {"hundreds"}, "conflicts": set()}
    assert body["independent_sources"] == 1
    assert await sources_of(client, "hundreds") == 1
    # The BBC's own words, in the article that relays KCNA: the publisher is a claimant too.
    await factories.claim(
        session, id="bbc-own-count", claimant_organization=bbc.id, source=first.id
    )
    assert await sources_of(client, "seven-hundred") == 2


async def test_one_governments_denial_in_two_outlets_is_one_origin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    government = await factories.organization(session, id="government", kind="government")
    bbc = await factories.organization(session, id="bbc", name="BBC News", kind="news_outlet")
    daily = await factories.organization(session, id="daily", name="Daily NK", kind="news_outlet")
    for outlet in (bbc, daily):
        await factories.claim(
            session,
            id=f"denial-in-{outlet.id}",
            fact="children-in-forced-labour",
            claimant_organization=government.id,
            source=(await news(session, outlet)).id,
            **DENIAL,
        )
    await factories.claim(
        session,
        id="denial-of-pows",
        fact="pows-held-after-war",
        claimant_organization=government.id,
        source=(await news(session, bbc)).id,
        **DENIAL,
    )
    body = await related(client, "denial-in-bbc")
    # A denial agrees with the denials of its own fact only.
    assert relations(body) == {"agrees": {"denial-in-daily"}, "conflicts": set()}
    assert body["independent_sources"] == 1
    assert await sources_of(client, "denial-in-daily") == 1
    assert relations(await related(client, "denial-of-pows")) == UNRELATED


async def test_one_witness_quoted_twice_is_one_origin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    witness = await factories.testimony(session, id="kim", witness_pseudonym="Kim")
    other = await factories.testimony(session, id="park", witness_pseudonym="Park")
    age = AGES | {"fact": "age-at-start-of-mine-work", "about_testimony": witness.id}
    for number in range(2):
        await factories.claim(
            session, id=f"kim-said-{number}", claimant_testimony=witness.id, value=16, **age
        )
    body = await related(client, "kim-said-0")
    assert relations(body) == {"agrees": {"kim-said-1"}, "conflicts": set()}
    assert body["independent_sources"] == 1
    # Another witness of the same fact (Kim's age) is a second origin.
    await factories.claim(session, id="park-said", claimant_testimony=other.id, value=16, **age)
    assert await sources_of(client, "kim-said-1") == 2


async def test_two_populations_of_one_metric_and_unit_never_meet(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    teens = {"value": None, "value_min": 13, "value_max": 19, "approximation": "vague"}
    await factories.claim(session, id="orphans", fact="orphan-volunteers-age", **AGES | teens)
    await factories.claim(
        session,
        id="recruits",
        fact="youth-brigade-recruits-youngest-age",
        **AGES | {"value": None, "value_min": 16, "value_max": 17},
    )
    await factories.claim(session, id="polishers", fact="gemstone-polishers-age", **AGES | teens)
    for claim_id in ("orphans", "recruits", "polishers"):
        body = await related(client, claim_id)
        assert relations(body) == UNRELATED, claim_id
        assert body["independent_sources"] == 1, claim_id
    # The fact is shown on the claim and filters the list, repeatably.
    assert (await client.get("/v1/claims/orphans")).json()["fact"] == "orphan-volunteers-age"
    listing = await client.get(
        "/v1/claims", params=[("fact", "orphan-volunteers-age"), ("fact", "gemstone-polishers-age")]
    )
    assert [c["id"] for c in listing.json()["data"]] == ["orphans", "polishers"]


async def test_a_dispute_of_a_denial_conflicts_with_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    government = await factories.organization(session, id="government", kind="government")
    witness = await factories.testimony(session, id="choi", witness_pseudonym="Choi")
    pows = {"fact": "pows-held-after-war", "quote": "prisoners"}
    await factories.claim(
        session, id="denial", claimant_organization=government.id, **pows | DENIAL
    )
    await factories.claim(
        session, id="denial-again", claimant_organization=government.id, **pows | DENIAL
    )
    # "This is not true": the witness disputes the denial's zero.
    await factories.claim(
        session, id="dispute", claimant_testimony=witness.id, value=0, stance="disputes", **pows
    )
    await factories.claim(session, id="estimate", value=50000, approximation="estimate", **pows)

    denial = await related(client, "denial")
    assert relations(denial) == {"agrees": {"denial-again"}, "conflicts": {"dispute", "estimate"}}
    assert listed(denial, "conflicts")["dispute"] == [
        "overlapping_range",
        "opposite_stance",
        "undated_period",
    ]
    assert denial["independent_sources"] == 1  # the government, twice
    # A dispute says only that its number is untrue: it neither backs nor contradicts 50,000.
    dispute = await related(client, "dispute")
    assert relations(dispute) == {"agrees": set(), "conflicts": {"denial", "denial-again"}}
    assert dispute["independent_sources"] == 1
    estimate = await related(client, "estimate")
    assert relations(estimate) == {"agrees": set(), "conflicts": {"denial", "denial-again"}}


async def test_ages_at_school_entry_and_at_start_of_work_are_different_facts(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    david = await factories.testimony(session, id="david", witness_pseudonym="David")
    school = await factories.facility(session, id="school", facility_type="school")
    his = AGES | {"claimant_testimony": david.id, "about_testimony": david.id}
    his |= {"about_facility": school.id}
    await factories.claim(session, id="school-entry", fact="age-at-school-entry", value=8, **his)
    await factories.claim(
        session,
        id="work-in-earnest",
        fact="age-at-start-of-work-in-earnest",
        value=10,
        approximation="approximate",
        **his,
    )
    for claim_id in ("school-entry", "work-in-earnest"):
        assert relations(await related(client, claim_id)) == UNRELATED, claim_id
    # Of one fact, his ages would compare: nine conflicts with eight.
    await factories.claim(session, id="entry-at-nine", fact="age-at-school-entry", value=9, **his)
    assert relations(await related(client, "school-entry")) == {
        "agrees": set(),
        "conflicts": {"entry-at-nine"},
    }


async def test_a_claim_without_a_fact_corroborates_and_contradicts_nothing_but_itself(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.claim(session, id="unsorted", fact=None)
    await factories.claim(session, id="unsorted-too", fact=None)
    await factories.claim(session, id="unsorted-low", fact=None, value=5)
    await factories.claim(session, id="sorted")  # same numbers, of a fact
    for claim_id in ("unsorted", "unsorted-too", "unsorted-low"):
        body = await related(client, claim_id)
        assert relations(body) == UNRELATED, claim_id
        assert body["independent_sources"] == 1, claim_id
        assert (await client.get(f"/v1/claims/{claim_id}")).json()["fact"] is None
    assert await sources_of(client, "sorted") == 1
    withdrawn = await factories.claim(session, id="withdrawn", fact=None)
    await retract(session, withdrawn)
    assert await sources_of(client, "withdrawn") == 0


async def test_a_withheld_claimant_counts_as_its_quote_and_tells_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    kcna = await factories.organization(session, id="kcna")
    insider = await factories.organization(session, id="insider")
    await factories.claim(session, id="named", claimant_organization=kcna.id)
    await factories.claim(
        session, id="unnamed", claimant_organization=kcna.id, claimant_level="restricted"
    )
    # Whoever the withheld claimant is, a client not shown it counts the same.
    anonymous = await sources_of(client, "named")
    assert anonymous == 2  # KCNA, and the unnamed claim's source
    reader = await factories.api_key(session, "read:restricted")
    assert await sources_of(client, "named", reader) == 1  # KCNA, twice
    await factories.claim(
        session, id="unnamed-other", claimant_organization=insider.id, claimant_level="restricted"
    )
    assert await sources_of(client, "named") == 3
    assert await sources_of(client, "named", reader) == 2


# The seed.


@pytest.fixture
async def seeded(session: AsyncSession) -> dict[str, str]:
    """The seed, and the headers of a client shown every record in full."""
    await load_seed(session, read_seed(SEED_DIR))
    return await factories.api_key(session, "read:confidential")


DENIALS = [
    "claim-north-korea-denies-forced-child-labour",
    "claim-north-korea-denies-state-department-child-labour-allegations",
    "claim-north-korea-denies-pows-held",
    "claim-pyongyang-denies-human-rights-abuses",
    "claim-north-korea-denies-human-rights-issues",
]
# Ages of three groups of people: orphan "volunteers", brigade recruits, gemstone polishers.
GROUPS = [
    "claim-bbc-orphan-volunteers-in-their-teens",
    "claim-us-state-department-youth-brigades-age-16-17",
    "claim-dailynk-source-teenage-girls-polish-gemstones",
    "claim-dailynk-teenage-girls-recruited-as-polishers",
]


def test_every_seed_claim_names_its_fact() -> None:
    claims = read_seed(SEED_DIR).claims
    assert [c.id for c in claims if c.fact is None] == []


async def test_the_seed_counts_one_origin_per_claimant(
    client: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    volunteers = await related(client, "claim-kcna-700-orphans-volunteered", seeded)
    assert relations(volunteers) == {
        "agrees": {"claim-kcna-hundreds-of-children-volunteered"},
        "conflicts": set(),
    }
    assert volunteers["independent_sources"] == 1
    assert await sources_of(client, "claim-kcna-hundreds-of-children-volunteered", seeded) == 1
    for denial in DENIALS:
        assert await sources_of(client, denial, seeded) == 1, denial
    for claim_id in GROUPS:
        body = await related(client, claim_id, seeded)
        assert not set().union(*relations(body).values()) & set(GROUPS), claim_id
        assert body["independent_sources"] == 1, claim_id


async def test_the_seed_relates_only_claims_of_one_fact(
    client: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    async def related_ids(claim_id: str) -> set[str]:
        return set().union(*relations(await related(client, claim_id, seeded)).values())

    # David's age at school entry (8) and when he began working in earnest (10).
    assert "claim-david-worked-in-earnest-at-about-10" not in await related_ids(
        "claim-david-entered-school-at-eight"
    )
    assert "claim-david-entered-school-at-eight" not in await related_ids(
        "claim-david-worked-in-earnest-at-about-10"
    )
    # Five labour camps and sixteen re-education facilities.
    assert "claim-asianews-16-re-education-facilities" not in await related_ids(
        "claim-asianews-five-political-prison-labour-camps"
    )
    # The denials agree with the denials of their own fact only.
    pows = await related(client, "claim-north-korea-denies-pows-held", seeded)
    assert not set(listed(pows, "agrees")) & set(DENIALS)
    child_labour = await related(client, DENIALS[0], seeded)
    assert relations(child_labour) == {"agrees": {DENIALS[1]}, "conflicts": set()}
    human_rights = await related(client, DENIALS[3], seeded)
    assert relations(human_rights) == {"agrees": {DENIALS[4]}, "conflicts": set()}
