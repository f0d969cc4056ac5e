"""Independent sources and related claims: relays counted once, agreement and conflict,
protection of what a client may not see, and a fixed cost per page. (One claimant counting
once, facts and stances on the hard cases: tests/test_independence.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.claims.models import Claim
from app.facilities.models import FacilityMention
from app.kit.schemas import RecordStatus
from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from app.sources.models import Source, SourceRelay
from tests import factories


async def claim_of(
    client: httpx.AsyncClient, claim_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(f"/v1/claims/{claim_id}", headers=headers or {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sources_of(
    client: httpx.AsyncClient, claim_id: str, headers: dict[str, str] | None = None
) -> int | None:
    count: int | None = (await claim_of(client, claim_id, headers))["independent_sources"]
    return count


async def facility_sources_of(
    client: httpx.AsyncClient, facility_id: str, headers: dict[str, str] | None = None
) -> int:
    response = await client.get(f"/v1/facilities/{facility_id}", headers=headers or {})
    assert response.status_code == 200, response.text
    count: int = response.json()["independent_sources"]
    return count


async def related(
    client: httpx.AsyncClient, claim_id: str, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/claims/{claim_id}/related", params=params, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed(body: dict[str, Any], relation: str) -> dict[str, list[str]]:
    return {item["claim"]["id"]: item["reasons"] for item in body[relation]["data"]}


async def outlets_relaying(session: AsyncSession, report: Source, count: int) -> list[Source]:
    return [await factories.source(session, relays=[report]) for _ in range(count)]


async def retract(session: AsyncSession, row: Claim) -> None:
    row.mark(RecordStatus.retracted, "Withdrawn by its publisher")
    await session.flush()


async def unnamed_claim(session: AsyncSession, **fields: Any) -> Claim:
    """A claim whose claimant anonymous clients are not shown: for them its origin is where
    its quote comes from, up the relays."""
    return await factories.claim(session, claimant_level="restricted", **fields)


# Origins and relay chains: the origin of a quote whose claimant the client is not shown.


async def test_three_outlets_relaying_one_report_count_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    report = await factories.source(session, id="kcna-report")
    for number, outlet in enumerate(await outlets_relaying(session, report, 3)):
        await unnamed_claim(
            session, id=f"repeat-{number}", source=outlet.id, relayed_from=report.id
        )
    for number in range(3):
        assert await sources_of(client, f"repeat-{number}") == 1
    page = (await client.get("/v1/claims")).json()["data"]
    assert [c["independent_sources"] for c in page] == [1, 1, 1]


async def test_two_independent_reports_count_twice(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.claim(session, id="first-report")
    await factories.claim(session, id="second-report")
    assert await sources_of(client, "first-report") == 2
    assert await sources_of(client, "second-report") == 2


async def test_a_report_and_an_outlet_relaying_it_count_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    report = await factories.source(session)
    (outlet,) = await outlets_relaying(session, report, 1)
    await unnamed_claim(session, id="own-words", source=report.id)
    await unnamed_claim(session, id="reported", source=outlet.id, relayed_from=report.id)
    assert await sources_of(client, "own-words") == 1


async def test_a_chain_of_relays_is_followed_to_the_top(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    top = await factories.source(session, id="original")
    middle = await factories.source(session, id="agency-rewrite", relays=[top])
    outlet = await factories.source(session, id="outlet", relays=[middle])
    other_outlet = await factories.source(session, id="other-outlet", relays=[top])
    await unnamed_claim(session, id="two-steps", source=outlet.id, relayed_from=middle.id)
    await unnamed_claim(session, id="one-step", source=other_outlet.id, relayed_from=top.id)
    assert await sources_of(client, "two-steps") == 1
    assert await sources_of(client, "one-step") == 1
    # The relay chain shown on the claim leads to the same origin.
    citation = (await claim_of(client, "two-steps"))["citations"][0]
    assert [s["id"] for s in citation["relay_chain"]] == ["agency-rewrite", "original"]


async def test_a_source_relaying_several_is_its_own_origin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first, second = await factories.source(session), await factories.source(session)
    digest = await factories.source(session, id="digest", relays=[first, second])
    outlet = await factories.source(session, relays=[digest])
    await unnamed_claim(session, id="from-digest", source=outlet.id, relayed_from=digest.id)
    # One quote is one report: it never counts as the two sources its origin relays.
    assert await sources_of(client, "from-digest") == 1
    (reporter,) = await outlets_relaying(session, first, 1)
    await unnamed_claim(session, id="from-first", source=reporter.id, relayed_from=first.id)
    assert await sources_of(client, "from-digest") == 2


async def test_relays_that_loop_have_one_origin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    one = await factories.source(session, id="loop-a")
    other = await factories.source(session, id="loop-b", relays=[one])
    session.add(SourceRelay(relaying_source_id=one.id, relayed_source_id=other.id))
    await session.flush()
    via_one = await factories.source(session, relays=[one])
    via_other = await factories.source(session, relays=[other])
    await unnamed_claim(session, id="via-one", source=via_one.id, relayed_from=one.id)
    await unnamed_claim(session, id="via-other", source=via_other.id, relayed_from=other.id)
    assert await sources_of(client, "via-one") == 1
    assert await sources_of(client, "via-other") == 1


# Facilities.


async def test_facility_counts_supported_mentions_and_visible_active_claims(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    report = await factories.source(session, id="report")
    outlets = await outlets_relaying(session, report, 2)
    own = await factories.source(session, id="own-reporting")
    withdrawn = await factories.source(session, id="withdrawn")
    mine = await factories.facility(
        session,
        id="mine",
        mentions=[
            {"source": outlets[0].id, "quote": "the mine", "relayed_from": report.id},
            {"source": outlets[1].id, "quote": "the mine", "relayed_from": report.id},
            {"source": own.id, "quote": "the mine"},
            {"source": withdrawn.id, "quote": "the mine"},
        ],
    )
    await session.execute(
        update(FacilityMention)
        .where(FacilityMention.source_id == withdrawn.id)
        .values(status=RecordStatus.unsupported)
    )
    assert await facility_sources_of(client, mine.id) == 2  # the report, own reporting

    await factories.claim(session, about_facility=mine.id, source=report.id)  # the report again
    assert await facility_sources_of(client, mine.id) == 2
    await factories.claim(session, id="third", about_facility=mine.id)
    assert await facility_sources_of(client, mine.id) == 3
    retracted = await factories.claim(session, about_facility=mine.id)
    await retract(session, retracted)
    assert await facility_sources_of(client, mine.id) == 3

    await factories.claim(session, about_facility=mine.id, protection_level="confidential")
    assert await facility_sources_of(client, mine.id) == 3
    confidential = await factories.api_key(session, "read:confidential")
    assert await facility_sources_of(client, mine.id, confidential) == 4
    listed_count = (await client.get("/v1/facilities")).json()["data"][0]["independent_sources"]
    assert listed_count == 3


# Agreement and conflict.


@pytest.fixture
async def neighbours(session: AsyncSession) -> None:
    """A target estimate of 600 to 800 in 2020, and claims around it."""
    kcna = await factories.organization(session, id="kcna")
    mine = await factories.facility(session, id="mine")

    async def claim(claim_id: str, **fields: Any) -> None:
        base = {"claimant_organization": kcna.id, "period_start": "2020", "period_end": "2020"}
        await factories.claim(session, id=claim_id, **base | fields)

    await claim("target", value=None, value_min=600, value_max=800, approximation="estimate")
    await claim("point-inside", value=700)
    await claim("point-below", value=100)
    # An open bound reaches past the range: "at least 500" includes 700.
    await claim("at-least-500", value=500, approximation="at_least")
    await claim("at-least-900", value=900, approximation="at_least")
    await claim("at-most-900", value=900, approximation="at_most")
    await claim("at-most-500", value=500, approximation="at_most")
    await claim("denies", value=0, stance="denies")
    await claim("disputes-700", value=700, stance="disputes")
    await claim("undated", value=700, period_start=None, period_end=None)
    await claim("mid-2020", value=700, period_start="2020-06", period_end="2020-07")
    await claim("other-unit", value=700, unit="other")
    await claim("other-metric", value=700, metric="deaths")
    await claim("other-subject", value=700, about_facility=mine.id)
    await claim("other-period", value=700, period_start="2015", period_end="2015")
    await claim("other-fact", value=700, fact="youth-brigade-recruits-youngest-age")
    await claim("no-fact", value=700, fact=None)
    # A dispute says only that the number it gives is untrue: of 100, nothing about 600-800.
    await claim("disputes-100", value=100, stance="disputes")
    # Retracted, and by a claimant of its own: which the counts must leave out.
    other_agency = await factories.organization(session, id="other-agency")
    retracted = await factories.claim(
        session, id="retracted", claimant_organization=other_agency.id, value=700
    )
    await retract(session, retracted)


@pytest.mark.usefixtures("neighbours")
async def test_related_claims_split_into_agreeing_and_conflicting(
    client: httpx.AsyncClient,
) -> None:
    body = await related(client, "target")
    dated = ["overlapping_range", "same_stance", "overlapping_period"]
    assert listed(body, "agrees") == {
        "at-least-500": dated,
        "at-most-900": dated,
        "mid-2020": dated,
        "point-inside": dated,
        "undated": ["overlapping_range", "same_stance", "undated_period"],
    }
    assert listed(body, "conflicts") == {
        "at-least-900": ["disjoint_range", "same_stance", "overlapping_period"],
        "at-most-500": ["disjoint_range", "same_stance", "overlapping_period"],
        "denies": ["disjoint_range", "opposite_stance", "overlapping_period"],
        "disputes-700": ["overlapping_range", "opposite_stance", "overlapping_period"],
        "point-below": ["disjoint_range", "same_stance", "overlapping_period"],
    }
    assert (body["agrees"]["total"], body["conflicts"]["total"]) == (5, 5)
    assert [item["claim"]["id"] for item in body["agrees"]["data"]] == sorted(
        listed(body, "agrees")
    )
    assert body["id"] == "target"
    assert body["withheld"] is False
    # Six claims agree (the target with them), each quoted from a source of its own, but all
    # are KCNA's: one claimant is one origin.
    assert body["independent_sources"] == 1
    assert body["independent_sources"] == await sources_of(client, "target")
    item = body["agrees"]["data"][0]["claim"]
    assert item == await claim_of(client, item["id"])


@pytest.mark.usefixtures("neighbours")
async def test_related_lists_are_capped_but_counted(client: httpx.AsyncClient) -> None:
    body = await related(client, "target", limit=2)
    assert [i["claim"]["id"] for i in body["agrees"]["data"]] == ["at-least-500", "at-most-900"]
    assert [i["claim"]["id"] for i in body["conflicts"]["data"]] == ["at-least-900", "at-most-500"]
    assert (body["agrees"]["total"], body["conflicts"]["total"]) == (5, 5)
    for limit in (0, 201, "many"):
        response = await client.get("/v1/claims/target/related", params={"limit": limit})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.usefixtures("neighbours")
async def test_a_retracted_claim_corroborates_nothing(client: httpx.AsyncClient) -> None:
    # "retracted" (700, undated) has the same values as "undated" and would agree with it.
    undated = await related(client, "undated")
    assert "retracted" not in listed(undated, "agrees")
    assert undated["independent_sources"] == 1  # KCNA, not the retracted claim's claimant
    tombstone = await related(client, "retracted")
    assert set(listed(tombstone, "agrees")) == {"undated", *listed(undated, "agrees")} - {
        "retracted"
    }
    # It counts the active claims that agree with it (KCNA's), not its own withdrawn words.
    assert tombstone["independent_sources"] == 1


# Protection.


async def test_a_confidential_claim_changes_nothing_for_anonymous(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.claim(session, id="public-claim", value=700)
    before_claim = await claim_of(client, "public-claim")
    before_related = await related(client, "public-claim")
    witness = await factories.testimony(session, id="hidden", protection_level="confidential")
    await factories.claim(session, id="own-level", value=700, protection_level="confidential")
    await factories.claim(session, id="about-hidden", value=700, claimant_testimony=witness.id)
    await factories.claim(session, id="contradiction", value=5, protection_level="confidential")
    assert await claim_of(client, "public-claim") == before_claim
    assert await related(client, "public-claim") == before_related
    assert before_claim["independent_sources"] == 1
    restricted = await factories.api_key(session, "read:restricted")
    assert await sources_of(client, "public-claim", restricted) == 1
    confidential = await factories.api_key(session, "read:confidential")
    assert await sources_of(client, "public-claim", confidential) == 3
    full = await related(client, "public-claim", confidential)
    assert set(listed(full, "agrees")) == {"own-level", "about-hidden"}
    assert set(listed(full, "conflicts")) == {"contradiction"}


async def test_a_coarsened_claim_takes_no_part_for_that_client(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    witness = await factories.testimony(session, id="kim", protection_level="restricted")
    await factories.claim(session, id="public-claim", value=700)
    await factories.claim(session, id="restricted-claim", value=700, claimant_testimony=witness.id)
    await factories.claim(session, id="restricted-low", value=5, claimant_testimony=witness.id)

    coarsened = await claim_of(client, "restricted-claim")
    assert coarsened["independent_sources"] is None
    assert "independent_sources" in coarsened["disclosure"]["withheld"]
    assert coarsened["disclosure"]["coarsened"] is True
    withheld = await related(client, "restricted-claim")
    assert withheld == {
        "id": "restricted-claim",
        "independent_sources": None,
        "withheld": True,
        "agrees": {"total": 0, "data": []},
        "conflicts": {"total": 0, "data": []},
    }
    public = await related(client, "public-claim")
    assert (public["agrees"]["total"], public["conflicts"]["total"]) == (0, 0)
    assert public["independent_sources"] == 1

    reader = await factories.api_key(session, "read:restricted")
    full = await claim_of(client, "restricted-claim", reader)
    assert full["independent_sources"] == 2
    assert "independent_sources" not in full["disclosure"]["withheld"]
    shown = await related(client, "restricted-claim", reader)
    assert shown["withheld"] is False
    assert set(listed(shown, "agrees")) == {"public-claim"}
    assert set(listed(shown, "conflicts")) == {"restricted-low"}
    assert await sources_of(client, "public-claim", reader) == 2


async def test_related_is_404_for_missing_and_hidden_claims(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.claim(session, id="hidden-claim", protection_level="confidential")
    restricted = await factories.api_key(session, "read:restricted")
    for headers in ({}, restricted):
        for claim_id in ("hidden-claim", "no-such-claim", "Not A Slug"):
            response = await client.get(f"/v1/claims/{claim_id}/related", headers=headers)
            plain = await client.get(f"/v1/claims/{claim_id}", headers=headers)
            assert response.status_code == plain.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"] == plain.json()["detail"]
    confidential = await factories.api_key(session, "read:confidential")
    assert (await related(client, "hidden-claim", confidential))["id"] == "hidden-claim"


# Writes and the OpenAPI document.


async def test_writes_answer_with_the_count(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    source = await factories.source(session, id="report")
    await factories.organization(session, id="kcna")
    await factories.claim(session, id="earlier", value=700)
    writer = await factories.api_key(session, "write")
    body = {
        "id": "new-claim",
        "statement": "KCNA claims 700 orphans volunteered.",
        "fact": "orphans-assigned-to-labour",
        "metric": "persons_count",
        "value": 700,
        "unit": "persons",
        "claimant_organization": "kcna",
        "source": source.id,
        "quote": "700 orphans had volunteered",
    }
    created = await client.post("/v1/claims", json=body, headers=writer)
    assert created.status_code == 201, created.text
    assert created.json()["fact"] == "orphans-assigned-to-labour"
    assert created.json()["independent_sources"] == 2
    facility = await client.post(
        "/v1/facilities",
        json={"id": "new-mine", "name": "A mine", "facility_type": "mine"},
        headers=writer,
    )
    assert facility.status_code == 201, facility.text
    assert facility.json()["independent_sources"] == 0


def test_the_document_describes_the_counts(app: FastAPI) -> None:
    document = app.openapi()
    schemas = document["components"]["schemas"]
    for name in ("Claim", "Facility"):
        field = schemas[name]["properties"]["independent_sources"]
        assert "original sources" in field["description"]
        assert "independent_sources" in schemas[name]["required"]
    operation = document["paths"]["/v1/claims/{claim_id}/related"]["get"]
    assert operation["operationId"] == "list_related_claims"
    reasons = schemas["RelationReason"]["enum"]
    assert {"overlapping_range", "disjoint_range", "same_stance", "opposite_stance"} <= set(reasons)


# Cost.


@contextmanager
def counted_statements(session: AsyncSession) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = session.bind.engine  # type: ignore[union-attr]

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_a_page_costs_the_same_few_queries_whatever_its_size(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    kcna = await factories.organization(session, id="kcna")
    report = await factories.source(session, id="report")
    outlets = await outlets_relaying(session, report, 5)
    for number in range(60):
        await factories.claim(
            session,
            id=f"claim-{number:02}",
            claimant_organization=kcna.id,
            value=600 + number * 5,
            source=outlets[number % 5].id,
            relayed_from=report.id,
            about_facility=(
                await factories.facility(
                    session,
                    id=f"mine-{number:02}",
                    mentions=[
                        {"source": outlets[0].id, "quote": "a mine", "relayed_from": report.id}
                    ],
                )
            ).id
            if number < 50
            else None,
        )
    costs = {}
    # A first request does the work its commit leaves pending (such as indexing the records
    # just written); measure the ones after it.
    assert (await client.get("/v1/claims", params={"limit": 1})).status_code == 200
    for path in ("/v1/claims", "/v1/facilities"):
        for limit in (5, 50):
            with counted_statements(session) as statements:
                response = await client.get(path, params={"limit": limit})
            assert response.status_code == 200
            assert len(response.json()["data"]) == limit
            costs[path, limit] = len(statements)
        assert costs[path, 5] == costs[path, 50] <= 15, costs
    page = (await client.get("/v1/claims", params={"limit": 60})).json()["data"]
    assert {c["independent_sources"] for c in page} == {1}


# The corpus.


async def test_the_seed_sets_state_media_beside_what_repeats_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_seed(session, read_seed(SEED_DIR))
    volunteers = await related(client, "claim-kcna-700-orphans-volunteered")
    assert set(listed(volunteers, "agrees")) == {"claim-kcna-hundreds-of-children-volunteered"}
    # The denials of forced child labour are of another fact: that children are forced.
    assert listed(volunteers, "conflicts") == {}
    # KCNA's, both: the BBC article reports one without naming the KCNA report it relays.
    assert volunteers["independent_sources"] == 1
    # The orphans' ages and the brigade recruits' youngest age are about different people.
    teens = await related(client, "claim-bbc-orphan-volunteers-in-their-teens")
    assert listed(teens, "agrees") == listed(teens, "conflicts") == {}
    # The mention and the claim both report one KCNA report.
    assert await facility_sources_of(client, "chonnae-area-coal-mining-complex") == 1
    # A published fact about a witness is public: its relations are shown to everyone.
    kim = await related(client, "claim-kim-hye-sook-age-starting-mine-work")
    assert kim["withheld"] is False
