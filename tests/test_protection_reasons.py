"""Every record above public says why: a testimony's level, a claim's own level or its
claimant's. The reason is optional in input but required above public, shown to clients
cleared for the record, and withheld (and said to be) from the others."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

QUOTE = "the shifts lasted until the lamps went out"
REASON = "Her county and dates would single her out."


@pytest.fixture
async def writer(session: AsyncSession) -> dict[str, str]:
    return await factories.api_key(session, "write", "read:confidential")


def account(**fields: Any) -> dict[str, Any]:
    return {
        "id": "witness",
        "witness_pseudonym": "Witness K",
        "witness_role": "survivor",
        "summary": "She says she worked in a mine.",
    } | fields


def claim(**fields: Any) -> dict[str, Any]:
    return {
        "id": "shifts",
        "statement": "An inside source says the shifts lasted 14 hours.",
        "metric": "working_hours_per_day",
        "value": 14,
        "unit": "hours_per_day",
        "claimant_organization": "insider",
        "source": "report",
        "quote": QUOTE,
    } | fields


async def base(session: AsyncSession) -> None:
    await factories.source(session, id="report", archived_text=f"A source said {QUOTE}.")
    await factories.organization(session, id="insider", name="A trading company")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "needs a protection_reason"),  # a testimony is restricted unless it says otherwise
        ({"protection_level": "restricted"}, "needs a protection_reason"),
        ({"protection_level": "confidential", "protection_reason": "  "}, "at least 1 character"),
    ],
)
async def test_a_protected_testimony_needs_a_reason(
    client: httpx.AsyncClient, writer: dict[str, str], fields: dict[str, Any], message: str
) -> None:
    response = await client.post("/v1/testimonies", json=account(**fields), headers=writer)
    assert response.status_code == 422
    assert message in response.text


async def test_a_testimony_reason_is_shown_to_cleared_clients_only(
    client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str]
) -> None:
    body = account(protection_level="restricted", protection_reason=REASON)
    assert (await client.post("/v1/testimonies", json=body, headers=writer)).status_code == 201
    public = account(id="open", protection_level="public")
    assert (await client.post("/v1/testimonies", json=public, headers=writer)).status_code == 201
    anonymous = (await client.get("/v1/testimonies/witness")).json()
    assert anonymous["protection_reason"] is None
    assert "protection_reason" in anonymous["disclosure"]["withheld"]
    cleared = await factories.api_key(session, "read:restricted")
    full = (await client.get("/v1/testimonies/witness", headers=cleared)).json()
    assert full["protection_reason"] == REASON
    assert full["disclosure"]["withheld"] == []
    assert (await client.get("/v1/testimonies/open")).json()["protection_reason"] is None
    # Lowering the level keeps the reason; raising it again needs one.
    etag = (await client.get("/v1/testimonies/open", headers=writer)).headers["etag"]
    raised = await client.patch(
        "/v1/testimonies/open",
        json={"protection_level": "confidential"},
        headers=writer | {"If-Match": etag},
    )
    assert raised.status_code == 422


@pytest.mark.parametrize(
    "fields", [{"protection_level": "restricted"}, {"claimant_level": "confidential"}]
)
async def test_a_protected_claim_or_claimant_needs_a_reason(
    client: httpx.AsyncClient,
    session: AsyncSession,
    writer: dict[str, str],
    fields: dict[str, Any],
) -> None:
    await base(session)
    refused = await client.post("/v1/claims", json=claim(**fields), headers=writer)
    assert refused.status_code == 422
    assert "needs a protection_reason" in refused.text
    given = claim(**fields, protection_reason="An inside source.")
    assert (await client.post("/v1/claims", json=given, headers=writer)).status_code == 201


async def test_a_claim_reason_goes_with_its_claimant(
    client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str]
) -> None:
    await base(session)
    body = claim(claimant_level="restricted", protection_reason="An inside source.")
    assert (await client.post("/v1/claims", json=body, headers=writer)).status_code == 201
    anonymous = (await client.get("/v1/claims/shifts")).json()
    # The fact and its quote stay public; who says it, and why that is withheld, do not.
    assert anonymous["value"] == 14
    assert anonymous["citations"][0]["quote"] == QUOTE
    assert anonymous["claimant"]["withheld"] is True
    assert anonymous["protection_reason"] is None
    assert anonymous["disclosure"]["withheld"] == ["claimant", "protection_reason"]
    cleared = await factories.api_key(session, "read:restricted")
    full = (await client.get("/v1/claims/shifts", headers=cleared)).json()
    assert full["claimant"]["id"] == "insider"
    assert full["protection_reason"] == "An inside source."
    assert full["disclosure"]["withheld"] == []
