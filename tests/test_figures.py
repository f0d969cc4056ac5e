"""Independent sources counted in memory agree with the related claims served for each claim,
in a group of many claims with every kind of range, period and stance, counted pair by pair
and as a matrix alike, and kept equal to a recount as claims are written one by one."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.claims import figures
from app.kit.schemas import RecordStatus
from app.rendering.indexing import index_pending, reindex_all
from app.views.models import RecordView
from tests import factories

APPROXIMATIONS = ("exact", "estimate", "at_least", "at_most")
STANCES = ("asserts", "asserts", "asserts", "denies", "disputes")


def random_claim(rng: random.Random, claimants: list[str], sources: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "claimant_organization": rng.choice(claimants),
        "source": rng.choice(sources),
        "stance": rng.choice(STANCES),
    }
    if rng.random() < 0.6:  # a point, or a bound: "at least", "at most"
        fields |= {"value": rng.randrange(0, 1000), "approximation": rng.choice(APPROXIMATIONS)}
    else:
        low = rng.randrange(0, 1000)
        high = low + rng.randrange(0, 500)
        fields |= {"value": None, "value_min": low, "value_max": high, "approximation": "estimate"}
    if rng.random() < 0.7:
        year = rng.randrange(2015, 2022)
        fields |= {"period_start": str(year), "period_end": str(year + rng.randrange(0, 3))}
    if rng.random() < 0.1:
        fields["fact"] = None
    return fields


async def agreeing_claimants(client: httpx.AsyncClient, claim_id: str) -> set[str]:
    """The claimants of the claim (when active) and of every claim related as agreeing."""
    detail = (await client.get(f"/v1/claims/{claim_id}")).json()
    related = (await client.get(f"/v1/claims/{claim_id}/related", params={"limit": 200})).json()
    assert related["agrees"]["total"] == len(related["agrees"]["data"])
    found = {item["claim"]["claimant"]["id"] for item in related["agrees"]["data"]}
    if detail["state"]["status"] == "active":
        found.add(detail["claimant"]["id"])
    return found


@pytest.mark.parametrize("large", [figures._LARGE, 1], ids=["pairwise", "matrix"])
async def test_every_figure_is_the_claimants_of_the_agreeing_claims(
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    large: int,
) -> None:
    monkeypatch.setattr(figures, "_LARGE", large)
    rng = random.Random(7)
    claimants = [(await factories.organization(session)).id for _ in range(6)]
    sources = [(await factories.source(session)).id for _ in range(4)]
    ids = []
    for _ in range(60):
        claim = await factories.claim(session, **random_claim(rng, claimants, sources))
        ids.append(claim.id)
        if rng.random() < 0.1:
            claim.mark(RecordStatus.retracted, "Withdrawn for the test.")
    await index_pending(session)
    await reindex_all(session, "claims")  # every figure counted at once, as a rebuild does
    for claim_id in ids:
        detail = (await client.get(f"/v1/claims/{claim_id}")).json()
        assert detail["independent_sources"] == len(await agreeing_claimants(client, claim_id))


async def stored_figures(session: AsyncSession) -> dict[tuple[str, str, str], Any]:
    rows = await session.execute(
        select(RecordView.kind, RecordView.record_id, RecordView.tier, RecordView.live).where(
            RecordView.kind.in_(["claims", "facilities"])
        )
    )
    return {(kind, record_id, tier): live for kind, record_id, tier, live in rows}


async def test_claims_written_one_by_one_keep_the_figures_of_a_recount(
    session: AsyncSession,
) -> None:
    """Each new claim reads only its neighbours and adds to the figures it meets, its
    facility's among them: the figures stay those every claim and facility counted at once
    gives, with claimants withheld from some tiers, claims hidden from some, and quotes
    reporting relayed sources."""
    rng = random.Random(11)
    claimants = [(await factories.organization(session)).id for _ in range(4)]
    report = await factories.source(session)
    relaying = await factories.source(session, relays=[report])
    relaying_again = await factories.source(session, relays=[relaying])
    own = [(await factories.source(session)).id for _ in range(2)]
    quotes = [
        {"source": relaying.id, "relayed_from": report.id},
        {"source": relaying_again.id, "relayed_from": relaying.id},
        {"source": report.id},
        *({"source": source_id} for source_id in own),
    ]
    facility = await factories.facility(
        session,
        mentions=[{"source": relaying_again.id, "quote": "the mine", "relayed_from": relaying.id}],
    )
    await index_pending(session)
    for n in range(40):
        fields = random_claim(rng, claimants, own) | rng.choice(quotes)
        if rng.random() < 0.8:
            fields["about_facility"] = facility.id
        if rng.random() < 0.2:
            fields |= {"claimant_level": "restricted", "claimant_description": "an official"}
        if rng.random() < 0.15:
            fields["protection_level"] = rng.choice(["restricted", "confidential"])
        await factories.claim(session, **fields)
        await index_pending(session)
        if n % 8 == 7:
            kept = await stored_figures(session)
            await reindex_all(session, "claims")
            await reindex_all(session, "facilities")
            await index_pending(session)
            assert kept == await stored_figures(session), f"after claim {n}"
