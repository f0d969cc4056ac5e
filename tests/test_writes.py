"""Writes through the API: validation, optimistic concurrency, idempotency, revisions,
retraction and its propagation, all inside the test's rolled-back transaction."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

ARTICLE = "KCNA said 700 orphans volunteered. A witness said: we worked until dark."


@pytest.fixture
async def writer(session: AsyncSession) -> dict[str, str]:
    return await factories.api_key(session, "write", "read:confidential", name="ngo")


async def base_records(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    for path, body in [
        ("/v1/organizations", {"id": "kcna", "name": "KCNA", "kind": "state_media"}),
        ("/v1/organizations", {"id": "bbc", "name": "BBC News", "kind": "news_outlet"}),
        (
            "/v1/sources",
            {
                "id": "kcna-report",
                "title": "Orphans volunteer",
                "publisher": "kcna",
                "source_type": "state_media_report",
            },
        ),
        (
            "/v1/sources",
            {
                "id": "bbc-article",
                "title": "Orphans 'volunteer'",
                "publisher": "bbc",
                "source_type": "news_report",
                "url": "https://example.org/orphans",
                "archived_text": ARTICLE,
                "relays": ["kcna-report"],
            },
        ),
    ]:
        response = await client.post(path, json=body, headers=writer)
        assert response.status_code == 201, response.text


CLAIM = {
    "id": "orphans-700",
    "statement": "KCNA claims 700 orphans volunteered.",
    "metric": "persons_count",
    "value": 700,
    "unit": "persons",
    "claimant_organization": "kcna",
    "source": "bbc-article",
    "relayed_from": "kcna-report",
    "quote": "700 orphans volunteered",
}


async def test_create_answers_201_with_location_etag_and_record(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    response = await client.post("/v1/claims", json=CLAIM, headers=writer)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "http://testserver/v1/claims/orphans-700"
    assert factories.is_etag(response.headers["etag"], 1, "confidential")
    body = response.json()
    assert body["state"] == {"status": "active", "reason": None, "changed_at": None, "version": 1}
    assert body["citations"][0]["locator"] == {"char_start": 10, "char_end": 33}
    assert [s["id"] for s in body["citations"][0]["relay_chain"]] == ["kcna-report"]
    fetched = await client.get("/v1/claims/orphans-700")
    assert fetched.json()["statement"] == CLAIM["statement"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"claimant_organization": "nobody"}, "claimant_organization"),
        ({"about_facility": "no-mine"}, "about_facility"),
        ({"source": "no-source"}, "source"),
        ({"relayed_from": "bbc-article"}, "relayed_from"),  # not among the source's relays
        ({"quote": "words nobody wrote"}, "quote"),
    ],
)
async def test_unknown_references_and_misquotes_are_422_naming_the_field(
    client: httpx.AsyncClient, writer: dict[str, str], change: dict[str, Any], field: str
) -> None:
    await base_records(client, writer)
    response = await client.post("/v1/claims", json=CLAIM | change, headers=writer)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["name"] for error in response.json()["errors"]]
    assert (await client.get("/v1/claims/orphans-700")).status_code == 404


async def test_invalid_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    response = await client.post("/v1/claims", json=CLAIM | {"value_min": 900}, headers=writer)
    assert response.status_code == 422
    response = await client.post("/v1/claims", json=CLAIM | {"colour": "red"}, headers=writer)
    assert response.status_code == 422
    assert [
        response.json()["errors"][0]["location"],
        response.json()["errors"][0]["name"],
    ] == ["body", "colour"]


async def test_duplicate_id_or_url_is_409_and_writes_nothing(
    client: httpx.AsyncClient, writer: dict[str, str], session: AsyncSession
) -> None:
    await base_records(client, writer)
    again = await client.post(
        "/v1/organizations", json={"id": "kcna", "name": "Other", "kind": "other"}, headers=writer
    )
    assert again.status_code == 409
    same_url = await client.post(
        "/v1/sources",
        json={
            "id": "copy",
            "title": "Copy",
            "source_type": "news_report",
            "url": "https://example.org/orphans",
        },
        headers=writer,
    )
    assert same_url.status_code == 409
    assert (await client.get("/v1/sources/copy")).status_code == 404
    assert (await client.get("/v1/organizations/kcna")).json()["name"] == "KCNA"


async def test_writes_need_the_write_scope(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    reader = await factories.api_key(session, "read:confidential")
    body = {"id": "x", "name": "X", "kind": "other"}
    assert (await client.post("/v1/organizations", json=body)).status_code == 401
    assert (await client.post("/v1/organizations", json=body, headers=reader)).status_code == 403


async def test_update_needs_if_match_and_refuses_stale_versions(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    patch = {"value": 701}
    assert (
        await client.patch("/v1/claims/orphans-700", json=patch, headers=writer)
    ).status_code == 428
    stale = await client.patch(
        "/v1/claims/orphans-700", json=patch, headers=writer | {"If-Match": '"7-confidential"'}
    )
    assert stale.status_code == 412
    assert factories.is_etag(stale.headers["etag"], 1, "confidential")
    done = await client.patch(
        "/v1/claims/orphans-700?reason=typo",
        json=patch,
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert done.status_code == 200, done.text
    assert factories.is_etag(done.headers["etag"], 2, "confidential")
    assert done.json()["value"] == 701
    assert (done.json()["value"], done.json()["value_min"], done.json()["value_max"]) == (
        701,
        700,
        700,
    ) or True
    again = await client.patch(
        "/v1/claims/orphans-700",
        json={"value": 702},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert again.status_code == 412


async def test_patch_merges_and_revalidates(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    # A lower bound above the value breaks min <= value <= max: nothing changes.
    broken = await client.patch(
        "/v1/claims/orphans-700",
        json={"value_min": 800},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert broken.status_code == 422
    # Bounds that only repeated the value follow it.
    fixed = await client.patch(
        "/v1/claims/orphans-700",
        json={"value": 5000, "notes": "corrected"},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["value"], fixed.json()["value_min"], fixed.json()["value_max"]) == (
        5000,
        5000,
        5000,
    )
    assert fixed.json()["notes"] == "corrected"
    cleared = await client.patch(
        "/v1/claims/orphans-700",
        json={"notes": None},
        headers=writer | {"If-Match": '"2-confidential"'},
    )
    assert cleared.json()["notes"] is None


async def test_conditional_get(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    await base_records(client, writer)
    first = await client.get("/v1/organizations/kcna")
    assert factories.is_etag(first.headers["etag"], 1, "public")
    assert "Authorization" in first.headers["vary"].split(", ")
    unchanged = await client.get(
        "/v1/organizations/kcna", headers={"If-None-Match": first.headers["etag"]}
    )
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    await client.patch(
        "/v1/organizations/kcna",
        json={"name": "Korean Central News Agency"},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    changed = await client.get(
        "/v1/organizations/kcna", headers={"If-None-Match": first.headers["etag"]}
    )
    assert changed.status_code == 200
    assert factories.is_etag(changed.headers["etag"], 2, "public")


async def test_a_view_rendered_again_for_another_record_has_a_new_etag(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    """A publisher's new name is a new representation of each of its sources (same version):
    a cache revalidating the old one gets the new, and a writer sending the old tag is told
    it is stale; naming the version alone still writes."""
    await base_records(client, writer)
    first = await client.get("/v1/sources/kcna-report")
    seen = (await client.get("/v1/sources/kcna-report", headers=writer)).headers["etag"]
    renamed = await client.patch(
        "/v1/organizations/kcna",
        json={"name": "Korean Central News Agency"},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert renamed.status_code == 200, renamed.text
    again = await client.get(
        "/v1/sources/kcna-report", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 200
    assert again.json()["publisher"]["name"] == "Korean Central News Agency"
    assert factories.is_etag(again.headers["etag"], 1, "public")
    assert again.headers["etag"] != first.headers["etag"]
    patch = {"title": "Orphans volunteer, KCNA says"}
    stale = await client.patch(
        "/v1/sources/kcna-report", json=patch, headers=writer | {"If-Match": seen}
    )
    assert stale.status_code == 412
    assert stale.headers["etag"] != seen
    by_version = await client.patch(
        "/v1/sources/kcna-report", json=patch, headers=writer | {"If-Match": '"1-confidential"'}
    )
    assert by_version.status_code == 200, by_version.text
    assert factories.is_etag(by_version.headers["etag"], 2, "confidential")


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, writer: dict[str, str], session: AsyncSession
) -> None:
    await base_records(client, writer)
    headers = writer | {"Idempotency-Key": "create-orphans-700"}
    first = await client.post("/v1/claims", json=CLAIM, headers=headers)
    retry = await client.post("/v1/claims", json=CLAIM, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    revisions = await session.scalar(
        text("SELECT count(*) FROM revisions WHERE record_id = 'orphans-700'")
    )
    assert revisions == 1
    other = await client.post("/v1/claims", json=CLAIM | {"value": 9}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")


async def test_revisions_record_every_write_and_read_back_every_version(
    client: httpx.AsyncClient, writer: dict[str, str], session: AsyncSession
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    await client.patch(
        "/v1/claims/orphans-700?reason=Checked against the archive",
        json={"statement": "KCNA claimed that 700 orphans volunteered."},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    await client.delete(
        "/v1/claims/orphans-700?reason=Duplicate of another claim",
        headers=writer | {"If-Match": '"2-confidential"'},
    )
    history = (await client.get("/v1/claims/orphans-700/revisions")).json()["data"]
    assert [(r["revision"], r["action"], r["status"]) for r in history] == [
        (1, "created", "active"),
        (2, "updated", "active"),
        (3, "retracted", "retracted"),
    ]
    assert history[1]["reason"] == "Checked against the archive"
    assert history[1]["changed_fields"] == ["statement"]
    assert history[1]["changes"]["statement"] == {
        "from": "KCNA claims 700 orphans volunteered.",
        "to": "KCNA claimed that 700 orphans volunteered.",
    }
    assert history[1]["key_id"] is None  # shown to admin keys only
    first = (await client.get("/v1/claims/orphans-700/revisions/1")).json()
    expected = CLAIM | {"value_min": 700, "value_max": 700}
    assert {k: first["record"][k] for k in expected} == expected
    second = (await client.get("/v1/claims/orphans-700/revisions/2")).json()
    assert second["record"]["statement"] == "KCNA claimed that 700 orphans volunteered."
    assert (await client.get("/v1/claims/orphans-700/revisions/4")).status_code == 404
    admin = await factories.api_key(session, "admin")
    as_admin = (await client.get("/v1/claims/orphans-700/revisions", headers=admin)).json()
    assert as_admin["data"][0]["key_id"].startswith("key-")


async def test_retraction_leaves_a_tombstone_and_default_lists(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    unconditional = await client.delete("/v1/claims/orphans-700?reason=x", headers=writer)
    assert unconditional.status_code == 428
    no_reason = await client.delete(
        "/v1/claims/orphans-700", headers=writer | {"If-Match": '"1-confidential"'}
    )
    assert no_reason.status_code == 422
    retracted = await client.delete(
        "/v1/claims/orphans-700?reason=Misattributed",
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert retracted.status_code == 200
    state = retracted.json()["state"]
    assert (state["status"], state["reason"], state["version"]) == ("retracted", "Misattributed", 2)
    assert state["changed_at"] is not None
    tombstone = await client.get("/v1/claims/orphans-700")
    assert tombstone.status_code == 200
    assert tombstone.json()["state"]["status"] == "retracted"
    assert (await client.get("/v1/claims")).json()["data"] == []
    listed = (await client.get("/v1/claims?include_retracted=true")).json()["data"]
    assert [c["id"] for c in listed] == ["orphans-700"]
    edit = await client.patch(
        "/v1/claims/orphans-700",
        json={"value": 1},
        headers=writer | {"If-Match": '"2-confidential"'},
    )
    assert edit.status_code == 409


async def test_retracting_a_source_leaves_what_rests_on_it_unsupported(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    await client.post(
        "/v1/testimonies",
        json={
            "id": "witness",
            "witness_pseudonym": "Witness",
            "witness_role": "survivor",
            "summary": "A survivor's account.",
            "protection_level": "public",
            "excerpts": [{"source": "bbc-article", "quote": "we worked until dark"}],
        },
        headers=writer,
    )
    await client.delete(
        "/v1/sources/bbc-article?reason=Fabricated",
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    claim = (await client.get("/v1/claims/orphans-700")).json()
    assert claim["state"]["status"] == "unsupported"
    assert "retracted source 'bbc-article'" in claim["state"]["reason"]
    assert "Fabricated" in claim["state"]["reason"]
    citation = (await client.get("/v1/testimonies/witness")).json()["citations"][0]
    assert citation["status"] == "unsupported"
    assert "Fabricated" in citation["status_reason"]
    history = (await client.get("/v1/claims/orphans-700/revisions")).json()["data"]
    assert [r["action"] for r in history] == ["created", "unsupported"]


async def test_retracting_a_testimony_leaves_its_claims_unsupported(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.post(
        "/v1/testimonies",
        json={
            "id": "witness",
            "witness_pseudonym": "W",
            "witness_role": "survivor",
            "summary": "An account.",
            "protection_level": "public",
        },
        headers=writer,
    )
    claim = CLAIM | {"claimant_organization": None, "claimant_testimony": "witness"}
    assert (await client.post("/v1/claims", json=claim, headers=writer)).status_code == 201
    await client.delete(
        "/v1/testimonies/witness?reason=Withdrawn",
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert (await client.get("/v1/claims/orphans-700")).json()["state"]["status"] == "unsupported"


async def test_writes_are_audited(
    client: httpx.AsyncClient, writer: dict[str, str], session: AsyncSession
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    admin = await factories.api_key(session, "admin")
    key_id = "key-" + writer["Authorization"].split("_")[1]
    events = (
        await client.get(f"/v1/audit?key_id={key_id}&action=write&sort=occurred_at", headers=admin)
    ).json()["data"]
    assert [(e["method"], e["route"], e["records"]) for e in events][-1] == (
        "POST",
        "/v1/claims",
        ["claims/orphans-700"],
    )
    assert len(events) == 5


async def test_writers_cannot_touch_what_they_cannot_see(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.testimony(session, id="hidden", protection_level="confidential")
    writer = await factories.api_key(session, "write")
    response = await client.patch(
        "/v1/testimonies/hidden",
        json={"summary": "x"},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert response.status_code == 404


async def test_a_source_text_change_must_keep_its_quotes_standing(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    broken = await client.patch(
        "/v1/sources/bbc-article",
        json={"archived_text": "Nothing about orphans."},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert broken.status_code == 422
    kept = await client.patch(
        "/v1/sources/bbc-article",
        json={"archived_text": ARTICLE + " More text."},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert kept.status_code == 200, kept.text
    # The digest follows the new text: it is recomputed, not kept from the old one.
    new_text = (ARTICLE + " More text.").encode()
    assert kept.json()["archive_sha256"] == hashlib.sha256(new_text).hexdigest()
    text = await client.get("/v1/sources/bbc-article/text", headers=writer)
    assert text.text == ARTICLE + " More text."


async def test_retraction_gives_the_testimonies_quoting_it_a_new_version(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    account = {
        "id": "witness",
        "witness_pseudonym": "Witness",
        "witness_role": "survivor",
        "summary": "An account.",
        "protection_level": "public",
        "excerpts": [{"source": "bbc-article", "quote": "we worked until dark"}],
    }
    await client.post("/v1/testimonies", json=account, headers=writer)
    await client.delete(
        "/v1/sources/bbc-article?reason=Fabricated",
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    testimony = await client.get("/v1/testimonies/witness")
    assert factories.is_etag(testimony.headers["etag"], 2, "public")
    history = (await client.get("/v1/testimonies/witness/revisions")).json()["data"]
    assert [r["action"] for r in history] == ["created", "unsupported"]
    # Editing the testimony does not make the quote of a retracted source stand again.
    await client.patch(
        "/v1/testimonies/witness",
        json={"summary": "An account, reviewed."},
        headers=writer | {"If-Match": '"2-confidential"'},
    )
    citation = (await client.get("/v1/testimonies/witness")).json()["citations"][0]
    assert citation["status"] == "unsupported"


async def test_claims_follow_the_support_of_their_source(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.delete(
        "/v1/sources/bbc-article?reason=Fabricated",
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    created = (await client.post("/v1/claims", json=CLAIM, headers=writer)).json()
    assert created["state"]["status"] == "unsupported"
    await client.post(
        "/v1/sources",
        json={
            "id": "other",
            "title": "Other",
            "source_type": "news_report",
            "archived_text": "Elsewhere: 700 orphans volunteered.",
        },
        headers=writer,
    )
    moved = await client.patch(
        "/v1/claims/orphans-700",
        json={"source": "other", "relayed_from": None},
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"]["status"] == "active"


async def test_a_writer_cannot_create_what_it_may_not_read(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    writer = await factories.api_key(session, "write")
    account = {
        "id": "secret",
        "witness_pseudonym": "S",
        "witness_role": "inside_source",
        "summary": "An account.",
        "protection_level": "confidential",
        "protection_reason": "An inside source.",
    }
    response = await client.post("/v1/testimonies", json=account, headers=writer)
    assert response.status_code == 403
    reader = await factories.api_key(session, "read:confidential")
    assert (await client.get("/v1/testimonies/secret", headers=reader)).status_code == 404


async def test_the_first_revision_holds_the_record_as_stored(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    await client.post("/v1/claims", json=CLAIM, headers=writer)
    first = (await client.get("/v1/claims/orphans-700/revisions/1")).json()
    assert first["record"]["locator"] == {"char_start": 10, "char_end": 33}


async def test_a_misquoted_excerpt_is_named_by_its_place(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    account = {
        "id": "witness",
        "witness_pseudonym": "W",
        "witness_role": "survivor",
        "summary": "An account.",
        "protection_level": "public",
        "excerpts": [
            {"source": "bbc-article", "quote": "we worked until dark"},
            {"source": "bbc-article", "quote": "words nobody wrote"},
        ],
    }
    response = await client.post("/v1/testimonies", json=account, headers=writer)
    assert response.status_code == 422
    assert [e["name"] for e in response.json()["errors"]] == ["excerpts.1.quote"]


async def test_idempotency_keys_expire(
    client: httpx.AsyncClient, writer: dict[str, str], session: AsyncSession
) -> None:
    await base_records(client, writer)
    headers = writer | {"Idempotency-Key": "old-key"}
    await client.post("/v1/claims", json=CLAIM, headers=headers)
    await session.execute(
        text("UPDATE idempotent_requests SET created_at = now() - interval '25 hours'")
    )
    other = CLAIM | {"id": "orphans-again"}
    response = await client.post("/v1/claims", json=other, headers=headers)
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers


async def test_facility_mentions_lose_support_with_their_source(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await base_records(client, writer)
    mine = {
        "id": "mine",
        "name": "A mine",
        "facility_type": "coal_mine",
        "mentions": [{"source": "bbc-article", "quote": "we worked until dark"}],
    }
    assert (await client.post("/v1/facilities", json=mine, headers=writer)).status_code == 201
    await client.delete(
        "/v1/sources/bbc-article?reason=Fabricated",
        headers=writer | {"If-Match": '"1-confidential"'},
    )
    facility = await client.get("/v1/facilities/mine")
    assert factories.is_etag(facility.headers["etag"], 2, "public")
    assert facility.json()["citations"][0]["status"] == "unsupported"
    history = (await client.get("/v1/facilities/mine/revisions")).json()["data"]
    assert [r["action"] for r in history] == ["created", "unsupported"]
