"""Disclosure tiers: restricted testimonies coarsened, confidential ones invisible, and what
rests on them inheriting their level; counts suppressed; sensitive reads audited."""

from __future__ import annotations

import base64

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

TEXT = "Kim said: I was sent to the mine in 1987. Park said: the guards beat us every night."


async def corpus(session: AsyncSession) -> None:
    source = await factories.source(session, id="report", archived_text=TEXT)
    mine = await factories.facility(session, id="mine", province="north_hamgyong")
    await factories.testimony(
        session,
        id="kim",
        witness_pseudonym="Kim",
        protection_level="restricted",
        protection_reason="Her county and dates would single her out.",
        county="Hoeryong",
        witness_age_at_start=16,
        witness_birth_year=1971,
        period_start="1987-03-14",
        period_end="1993-06",
        province="north_hamgyong",
        facilities=[mine],
        excerpts=[{"source": source.id, "quote": "I was sent to the mine in 1987."}],
    )
    await factories.testimony(
        session,
        id="park",
        witness_pseudonym="Park",
        protection_level="confidential",
        period_start="1990",
        province="north_hamgyong",
        facilities=[mine],
        excerpts=[{"source": source.id, "quote": "the guards beat us every night."}],
    )
    await factories.testimony(session, id="open", witness_pseudonym="Lee", period_start="1995")
    await factories.claim(
        session,
        id="kim-age",
        metric="age_years",
        value=16,
        unit="years",
        claimant_testimony="kim",
        period_end="1987-03-14",
        source=source.id,
        quote="I was sent to the mine in 1987.",
        notes="Told in an interview.",
    )
    await factories.claim(session, id="park-count", claimant_testimony="park", value=30)
    await factories.claim(session, id="about-park", about_testimony="park", value=2)
    await factories.claim(session, id="public", value=700)
    await factories.claim(session, id="stricter", value=9, protection_level="confidential")


async def ids(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> list[str]:
    response = await client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text
    return sorted(record["id"] for record in response.json()["data"])


async def test_anonymous_clients_get_restricted_testimonies_coarsened(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    kim = (await client.get("/v1/testimonies/kim")).json()
    assert kim["witness"]["pseudonym"] == "Kim"
    assert kim["witness"]["age_at_start"] is None
    assert kim["witness"]["age_band"] == "10-19"
    assert kim["witness"]["birth_year"] is None
    assert kim["witness"]["birth_decade"] == "1970s"
    assert kim["county"] is None
    assert kim["province"] == "north_hamgyong"
    assert kim["period"] == {"start": "1987", "end": "1993"}
    assert kim["citations"][0]["quote"] is None
    assert kim["citations"][0]["locator"] is None
    assert kim["citations"][0]["source"]["id"] == "report"
    assert kim["disclosure"] == {
        "level": "restricted",
        "coarsened": True,
        "withheld": [
            "county",
            "witness.age_at_start",
            "witness.birth_year",
            "period",
            "protection_reason",
            "citations.quote",
            "citations.locator",
        ],
    }
    assert kim["protection_reason"] is None


async def test_read_restricted_sees_restricted_testimonies_in_full(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    headers = await factories.api_key(session, "read:restricted")
    kim = (await client.get("/v1/testimonies/kim", headers=headers)).json()
    assert kim["county"] == "Hoeryong"
    assert kim["witness"]["age_at_start"] == 16
    assert kim["period"] == {"start": "1987-03-14", "end": "1993-06"}
    assert kim["citations"][0]["quote"] == "I was sent to the mine in 1987."
    assert kim["protection_reason"] == "Her county and dates would single her out."
    assert kim["disclosure"] == {"level": "restricted", "coarsened": False, "withheld": []}


@pytest.mark.parametrize("scopes", [(), ("read:restricted",), ("write", "admin")])
async def test_confidential_testimonies_are_invisible_without_read_confidential(
    client: httpx.AsyncClient, session: AsyncSession, scopes: tuple[str, ...]
) -> None:
    await corpus(session)
    headers = await factories.api_key(session, *scopes) if scopes else {}
    hidden = await client.get("/v1/testimonies/park", headers=headers)
    missing = await client.get("/v1/testimonies/nobody", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("park", "X") == missing.json()["detail"].replace(
        "nobody", "X"
    )
    assert await ids(client, "/v1/testimonies", headers) == ["kim", "open"]
    assert await ids(client, "/v1/testimonies?facility=mine", headers) == ["kim"]
    assert await ids(client, "/v1/testimonies?source=report", headers) == ["kim"]
    assert await ids(
        client, "/v1/testimonies?period_from=1990-01-01&period_to=1990-12-31", headers
    ) == ["kim"]
    assert await ids(client, "/v1/claims", headers) == ["kim-age", "public"]
    assert await ids(client, "/v1/claims?testimony=park", headers) == []
    assert await ids(client, "/v1/claims?claimant=park", headers) == []
    for claim_id in ("park-count", "about-park", "stricter"):
        assert (await client.get(f"/v1/claims/{claim_id}", headers=headers)).status_code == 404


async def test_read_confidential_sees_everything(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    headers = await factories.api_key(session, "read:confidential")
    assert await ids(client, "/v1/testimonies", headers) == ["kim", "open", "park"]
    assert await ids(client, "/v1/claims", headers) == [
        "about-park",
        "kim-age",
        "park-count",
        "public",
        "stricter",
    ]
    park = (await client.get("/v1/testimonies/park", headers=headers)).json()
    assert park["citations"][0]["quote"] == "the guards beat us every night."
    assert park["disclosure"]["level"] == "confidential"


async def test_claims_inherit_the_level_of_their_testimony(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    claim = (await client.get("/v1/claims/kim-age")).json()
    assert claim["disclosure"] == {
        "level": "restricted",
        "coarsened": True,
        "withheld": [
            "citations.quote",
            "citations.locator",
            "notes",
            "period",
            "value",
            "independent_sources",
        ],
    }
    assert (claim["value"], claim["value_min"], claim["value_max"]) == (None, 10, 19)
    assert claim["period"] == {"start": None, "end": "1987"}
    assert claim["notes"] is None
    assert claim["citations"][0]["quote"] is None
    public = (await client.get("/v1/claims/public")).json()
    assert public["disclosure"] == {"level": "public", "coarsened": False, "withheld": []}
    headers = await factories.api_key(session, "read:restricted")
    full = (await client.get("/v1/claims/kim-age", headers=headers)).json()
    assert full["value"] == 16
    assert full["citations"][0]["quote"] == "I was sent to the mine in 1987."


async def test_filters_see_only_what_a_coarsened_record_shows(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    # The exact age (16) and day are withheld: probing with narrow ranges finds only the band.
    assert await ids(client, "/v1/claims?metric=age_years&value_min=16&value_max=16") == ["kim-age"]
    assert await ids(client, "/v1/claims?metric=age_years&value_min=18&value_max=18") == ["kim-age"]
    assert await ids(client, "/v1/testimonies?period_from=1987-01-01&period_to=1987-01-02") == [
        "kim"
    ]
    headers = await factories.api_key(session, "read:restricted")
    assert await ids(client, "/v1/claims?metric=age_years&value_min=18&value_max=18", headers) == []
    assert (
        await ids(client, "/v1/testimonies?period_from=1987-01-01&period_to=1987-01-02", headers)
        == []
    )


async def test_an_excerpt_can_be_stricter_than_its_testimony(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    source = await factories.source(session, id="report", archived_text=TEXT)
    await factories.testimony(
        session,
        id="mixed",
        protection_level="public",
        excerpts=[
            {"source": source.id, "quote": "I was sent to the mine in 1987."},
            {
                "source": source.id,
                "quote": "the guards beat us every night.",
                "protection_level": "confidential",
            },
        ],
    )
    anonymous = (await client.get("/v1/testimonies/mixed")).json()
    assert [c["quote"] for c in anonymous["citations"]] == ["I was sent to the mine in 1987."]
    assert await ids(client, "/v1/testimonies?source=report") == ["mixed"]
    headers = await factories.api_key(session, "read:confidential")
    full = (await client.get("/v1/testimonies/mixed", headers=headers)).json()
    assert len(full["citations"]) == 2


async def test_small_counts_of_testimonies_are_suppressed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    body = (await client.get("/v1/testimonies?count=true")).json()
    assert body["page"]["total"] == "<5"
    assert "total" not in (await client.get("/v1/testimonies")).json()["page"]
    for number in range(5):
        await factories.testimony(session, id=f"many-{number}", province="kangwon")
    assert (await client.get("/v1/testimonies?count=true")).json()["page"]["total"] == 7
    assert (await client.get("/v1/testimonies?count=true&province=rason")).json()["page"][
        "total"
    ] == 0
    headers = await factories.api_key(session, "read:restricted")
    exact = (await client.get("/v1/testimonies?count=true&facility=mine", headers=headers)).json()
    assert exact["page"]["total"] == 1
    # Other records are not testimonies: their counts are exact.
    assert (await client.get("/v1/claims?count=true")).json()["page"]["total"] == 2


async def test_cursors_are_opaque_and_bound_to_the_access_level(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    headers = await factories.api_key(session, "read:confidential")
    page = (await client.get("/v1/testimonies?limit=1&sort=id", headers=headers)).json()
    cursor = page["page"]["next_cursor"]
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"kim" not in decoded
    assert (await client.get(page["links"]["next"], headers=headers)).status_code == 200
    anonymous = await client.get(page["links"]["next"])
    assert anonymous.status_code == 400


async def test_sensitive_reads_are_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await corpus(session)
    reader = await factories.api_key(session, "read:confidential", name="reader")
    admin = await factories.api_key(session, "admin", name="auditor")
    await client.get("/v1/testimonies/park", headers=reader)
    await client.get("/v1/claims?sort=id", headers=reader)
    await client.get("/v1/testimonies/open", headers=reader)  # public: not audited
    await client.get("/v1/testimonies/kim")  # coarsened: nothing sensitive shown
    reader_id = "key-" + reader["Authorization"].split("_")[1]
    url = f"/v1/audit?sort=occurred_at&key_id={reader_id}"
    events = (await client.get(url, headers=admin)).json()["data"]
    assert [(e["key_id"], e["action"], e["route"], e["records"]) for e in events] == [
        (reader_id, "read_confidential", "/v1/testimonies/{testimony_id}", ["testimonies/park"]),
        (
            reader_id,
            "read_confidential",
            "/v1/claims",
            ["claims/about-park", "claims/kim-age", "claims/park-count", "claims/stricter"],
        ),
    ]
    filtered = await client.get("/v1/audit?record=testimonies/park", headers=admin)
    assert [e["records"] for e in filtered.json()["data"]] == [["testimonies/park"]]
    by_key = await client.get(f"/v1/audit?key_id={reader_id}&limit=1", headers=admin)
    assert by_key.json()["links"]["next"] is not None
