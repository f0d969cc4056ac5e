"""Writers see no more than readers: a key writes only what it reads in full, refers only to
what it may read, and learns from a write (or an import, or its dry run) nothing a read would
not tell it. Through HTTP, as a write-only key, a write+read:restricted key and a
write+read:confidential key, against public, restricted and confidential records."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.main import create_app
from app.rendering.indexing import index_pending
from tests import factories
from tests.conftest import app_settings

NDJSON = {"Content-Type": "application/x-ndjson"}
TEXT = "A witness said: we dug coal until the lamps went out. The guards came at night."
QUOTE = "we dug coal until the lamps went out"
LEVELS = ["public", "restricted", "confidential"]
KEYS = {
    "write": ("write",),
    "write+restricted": ("write", "read:restricted"),
    "write+confidential": ("write", "read:confidential"),
}
# What each key reads in full, and what it may not learn exists.
IN_FULL = {
    "write": {"public"},
    "write+restricted": {"public", "restricted"},
    "write+confidential": {"public", "restricted", "confidential"},
}
HIDDEN = {
    "write": {"confidential"},
    "write+restricted": {"confidential"},
    "write+confidential": set(),
}
NEEDS = {"restricted": "read:restricted", "confidential": "read:confidential"}


def ndjson(*lines: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode() + b"\n"


def account(record_id: str, level: str, **fields: Any) -> dict[str, Any]:
    return (
        {
            "id": record_id,
            "witness_pseudonym": "Witness K",
            "witness_role": "survivor",
            "summary": "The witness says she worked in a mine.",
            "county": "Onsong",  # withheld from clients that see the record coarsened
            "protection_level": level,
        }
        | ({"protection_reason": "Her county identifies her."} if level != "public" else {})
        | fields
    )


def claim_body(record_id: str, testimony: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "statement": "The witness says the shifts lasted until the lamps went out.",
        "metric": "working_hours_per_day",
        "value": 14,
        "unit": "hours_per_day",
        "claimant_testimony": testimony,
        "source": "report",
        "quote": QUOTE,
    }


def as_if(response: httpx.Response, record_id: str, other_id: str) -> dict[str, Any]:
    """The answer with one id put for another: two answers that differ only by the id they
    were asked about compare equal."""
    body: dict[str, Any] = json.loads(response.text.replace(record_id, other_id))
    return {"status": response.status_code} | body


async def key(session: AsyncSession, name: str) -> dict[str, str]:
    return await factories.api_key(session, *KEYS[name], name=name)


async def testimonies(session: AsyncSession) -> None:
    """One testimony of each level, and a source."""
    await factories.source(session, id="report", archived_text=TEXT)
    for level in LEVELS:
        await factories.testimony(session, **account(f"{level}-witness", level))


async def stored(client: httpx.AsyncClient, session: AsyncSession, record: str) -> dict[str, Any]:
    """The record as a key that reads everything sees it."""
    admin = await factories.api_key(session, "read:confidential")
    response = await client.get(f"/v1/{record}", headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", list(KEYS))
async def test_a_writer_changes_and_retracts_only_what_it_reads_in_full(
    client: httpx.AsyncClient, session: AsyncSession, name: str, level: str
) -> None:
    await testimonies(session)
    writer = await key(session, name)
    record = f"{level}-witness"
    before = await stored(client, session, f"testimonies/{record}")
    read = await client.get(f"/v1/testimonies/{record}", headers=writer)
    patch = await client.patch(
        f"/v1/testimonies/{record}",
        json={"summary": "Reviewed."},
        headers=writer | {"If-Match": "*"},
    )
    if level in IN_FULL[name]:
        assert read.status_code == 200
        assert read.json()["disclosure"]["coarsened"] is False
        assert patch.status_code == 200, patch.text
        assert (
            patch.json() == (await client.get(f"/v1/testimonies/{record}", headers=writer)).json()
        )
        retract = await client.delete(
            f"/v1/testimonies/{record}?reason=duplicate", headers=writer | {"If-Match": "*"}
        )
        assert retract.status_code == 200, retract.text
        return
    retract = await client.delete(
        f"/v1/testimonies/{record}?reason=duplicate", headers=writer | {"If-Match": "*"}
    )
    if level in HIDDEN[name]:
        # Exactly what a missing record answers, to the writer and to the reader alike.
        assert read.status_code == 404
        for method, answer in (("PATCH", patch), ("DELETE", retract)):
            missing = await client.request(
                method,
                "/v1/testimonies/no-such-witness"
                + ("?reason=duplicate" if method == "DELETE" else ""),
                json={"summary": "Reviewed."} if method == "PATCH" else None,
                headers=writer | {"If-Match": "*"},
            )
            assert as_if(answer, record, "no-such-witness") == as_if(
                missing, "no-such-witness", "no-such-witness"
            )
            assert answer.status_code == 404
    else:
        # Seen coarsened: the reader gets the coarsened record, the writer a 403 naming the
        # scope it lacks.
        assert read.status_code == 200
        assert read.json()["disclosure"]["coarsened"] is True
        for answer in (patch, retract):
            assert answer.status_code == 403, answer.text
            assert answer.json()["type"] == "urn:testimony-api:problem:forbidden"
            assert NEEDS[level] in answer.json()["detail"]
    assert await stored(client, session, f"testimonies/{record}") == before


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", list(KEYS))
async def test_an_import_writes_only_what_the_key_reads_in_full(
    client: httpx.AsyncClient, session: AsyncSession, name: str, level: str
) -> None:
    await testimonies(session)
    writer = await key(session, name)
    record = f"{level}-witness"
    before = await stored(client, session, f"testimonies/{record}")
    read = await client.get(f"/v1/testimonies/{record}", headers=writer)
    body = ndjson({"type": "testimony", "record": account(record, level, summary="Reviewed.")})
    dry, real = [
        await client.post(f"/v1/import?dry_run={dry_run}", content=body, headers=writer | NDJSON)
        for dry_run in ("true", "false")
    ]
    if level in IN_FULL[name]:
        assert read.status_code == 200
        assert dry.json() == real.json() | {"dry_run": True}
        assert real.json()["updated"] == {"testimonies": 1}
        after = await client.get(f"/v1/testimonies/{record}", headers=writer)
        assert after.json()["summary"] == "Reviewed."
        return
    assert dry.json() == real.json()
    if level in HIDDEN[name]:
        assert read.status_code == 404
        assert real.status_code == 409
        assert real.json()["type"] == "urn:testimony-api:problem:id-unavailable"
    else:
        assert read.status_code == 200
        assert real.status_code == 403
        assert NEEDS[level] in real.json()["detail"]
    assert await stored(client, session, f"testimonies/{record}") == before


@pytest.mark.parametrize(
    ("name", "target", "allowed"),
    [
        ("write", "restricted", False),
        ("write", "confidential", False),
        ("write+restricted", "restricted", True),
        ("write+restricted", "confidential", False),
        ("write+confidential", "confidential", True),
    ],
)
async def test_a_record_is_raised_only_to_a_level_the_writer_reads(
    client: httpx.AsyncClient, session: AsyncSession, name: str, target: str, allowed: bool
) -> None:
    await testimonies(session)
    writer = await key(session, name)
    before = await stored(client, session, "testimonies/public-witness")
    raised = await client.patch(
        "/v1/testimonies/public-witness",
        json={"protection_level": target, "protection_reason": "Her county identifies her."},
        headers=writer | {"If-Match": "*"},
    )
    created = await client.post(
        "/v1/testimonies", json=account("new-witness", target), headers=writer
    )
    imported = await client.post(
        "/v1/import",
        content=ndjson(
            {"type": "testimony", "record": account("public-witness", target)},
        ),
        headers=writer | NDJSON,
    )
    if allowed:
        assert raised.status_code == 200, raised.text
        assert created.status_code == 201, created.text
        assert imported.status_code == 200, imported.text
        return
    for answer in (raised, created, imported):
        assert answer.status_code == 403, answer.text
        assert answer.json()["detail"].endswith(f"writing it needs {NEEDS[target]}.")
    # Nothing was written: not the change, not its revision.
    assert await stored(client, session, "testimonies/public-witness") == before
    reader = await factories.api_key(session, "read:confidential")
    assert (await client.get("/v1/testimonies/new-witness", headers=reader)).status_code == 404
    history = await client.get("/v1/testimonies/public-witness/revisions", headers=reader)
    assert [r["action"] for r in history.json()["data"]] == ["created"]


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("write", "restricted"),
        ("write+restricted", "restricted"),
        ("write+restricted", "confidential"),
    ],
)
async def test_a_claim_takes_the_level_of_its_testimony(
    client: httpx.AsyncClient, session: AsyncSession, name: str, level: str
) -> None:
    await testimonies(session)
    writer = await key(session, name)
    body = claim_body("shift-hours", f"{level}-witness")
    created = await client.post("/v1/claims", json=body, headers=writer)
    if level in IN_FULL[name]:
        assert created.status_code == 201, created.text
        assert created.json()["disclosure"]["level"] == level
    elif level in HIDDEN[name]:
        assert created.status_code == 422  # its testimony is hidden: as if it did not exist
    else:
        assert created.status_code == 403
        assert created.json()["detail"] == (
            f"The claim would be {level}, in whole or in part: writing it needs {NEEDS[level]}."
        )


@pytest.mark.parametrize("name", ["write", "write+restricted"])
async def test_a_reference_to_a_hidden_record_answers_as_one_to_a_missing_record(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    await testimonies(session)
    writer = await key(session, name)
    hidden, missing = "confidential-witness", "no-such-witness"
    posts = [
        await client.post("/v1/claims", json=claim_body("c1", target), headers=writer)
        for target in (hidden, missing)
    ]
    assert posts[0].status_code == 422
    assert posts[0].json()["type"] == "urn:testimony-api:problem:unknown-reference"
    assert as_if(posts[0], hidden, missing) == as_if(posts[1], missing, missing)
    for dry_run in ("false", "true"):
        imports = [
            await client.post(
                f"/v1/import?dry_run={dry_run}",
                content=ndjson({"type": "claim", "record": claim_body("c1", target)}),
                headers=writer | NDJSON,
            )
            for target in (hidden, missing)
        ]
        assert imports[0].status_code == 422
        assert imports[0].json()["errors"] == [
            {
                "location": "body",
                "name": "line 1: record.claimant_testimony",
                "message": f"no testimony has the id {hidden!r}",
            }
        ]
        assert as_if(imports[0], hidden, missing) == as_if(imports[1], missing, missing)
    # A PATCH that points a visible claim at the hidden testimony, likewise.
    await factories.claim(session, id="visible-claim", source="report", quote=QUOTE)
    patches = [
        await client.patch(
            "/v1/claims/visible-claim",
            json={"claimant_organization": None, "claimant_testimony": target},
            headers=writer | {"If-Match": "*"},
        )
        for target in (hidden, missing)
    ]
    assert patches[0].status_code == 422
    assert as_if(patches[0], hidden, missing) == as_if(patches[1], missing, missing)


async def test_the_write_only_key_of_the_defect_neither_changes_nor_builds_on_hidden_records(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The import no longer does what PATCH and POST refuse."""
    await testimonies(session)
    writer = await key(session, "write")
    before = await stored(client, session, "testimonies/confidential-witness")
    made_public = await client.post(
        "/v1/import",
        content=ndjson({"type": "testimony", "record": account("confidential-witness", "public")}),
        headers=writer | NDJSON,
    )
    assert made_public.status_code == 409
    assert await stored(client, session, "testimonies/confidential-witness") == before
    resting = await client.post(
        "/v1/import",
        content=ndjson({"type": "claim", "record": claim_body("c2", "confidential-witness")}),
        headers=writer | NDJSON,
    )
    assert resting.status_code == 422
    reader = await factories.api_key(session, "read:confidential")
    assert (await client.get("/v1/claims/c2", headers=reader)).status_code == 404


@pytest.mark.parametrize("name", ["write", "write+restricted"])
async def test_an_import_of_a_hidden_record_answers_the_same_whatever_is_guessed(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    """A dry run answers as the real run does, and neither confirms any field: the stored
    record and a wrong guess get the same refusal as a POST of its id."""
    await testimonies(session)
    writer = await key(session, name)
    record = "confidential-witness"
    as_stored = account(record, "confidential")  # what the factory stored
    wrong = account(record, "confidential", summary="A guess.")
    answers = [
        await client.post(
            f"/v1/import?dry_run={dry_run}",
            content=ndjson({"type": "testimony", "record": guess}),
            headers=writer | NDJSON,
        )
        for guess in (as_stored, wrong)
        for dry_run in ("true", "false")
    ]
    bodies = [(a.status_code, a.json()) for a in answers]
    assert bodies == [bodies[0]] * 4
    status, body = bodies[0]
    assert status == 409
    assert body["type"] == "urn:testimony-api:problem:id-unavailable"
    assert body["detail"] == f"The id {record!r} cannot be used; choose another."
    assert body["errors"][0]["name"] == "line 1: record.id"
    post = await client.post("/v1/testimonies", json=wrong, headers=writer)
    assert (post.status_code, post.json()["detail"]) == (status, body["detail"])


async def test_an_import_of_a_coarsened_record_is_403_in_a_dry_run_too(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await testimonies(session)
    writer = await key(session, "write")
    before = await stored(client, session, "testimonies/restricted-witness")
    for guess in ("restricted", "public"):
        answers = [
            await client.post(
                f"/v1/import?dry_run={dry_run}",
                content=ndjson(
                    {"type": "testimony", "record": account("restricted-witness", guess)}
                ),
                headers=writer | NDJSON,
            )
            for dry_run in ("true", "false")
        ]
        assert answers[0].status_code == 403
        assert answers[0].json() == answers[1].json()
        assert "read:restricted" in answers[0].json()["detail"]
    assert await stored(client, session, "testimonies/restricted-witness") == before


@pytest.mark.parametrize("name", ["write", "write+restricted"])
async def test_an_id_taken_by_an_unwritable_record_is_refused_alike_and_audited(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    await testimonies(session)
    writer = await key(session, name)
    unwritable = [
        f"{level}-witness" for level in ("restricted", "confidential") if level not in IN_FULL[name]
    ]
    answers = {
        record: await client.post("/v1/testimonies", json=account(record, "public"), headers=writer)
        for record in unwritable
    }
    for record, answer in answers.items():
        assert answer.status_code == 409
        assert as_if(answer, record, "x") == as_if(answers[unwritable[0]], unwritable[0], "x")
        assert answer.json()["type"] == "urn:testimony-api:problem:id-unavailable"
    # One that the key may write answers as it always did: it may read it anyway.
    public = await client.post(
        "/v1/testimonies", json=account("public-witness", "public"), headers=writer
    )
    assert public.json()["type"] == "urn:testimony-api:problem:conflict"
    # Every refusal is in the audit trail, though its request wrote nothing else.
    await client.post(
        "/v1/import?dry_run=true",
        content=ndjson({"type": "testimony", "record": account("confidential-witness", "public")}),
        headers=writer | NDJSON,
    )
    admin = await factories.api_key(session, "admin")
    key_id = "key-" + writer["Authorization"].split("_")[1]
    events = (
        await client.get(
            f"/v1/audit?key_id={key_id}&action=write_refused&sort=occurred_at", headers=admin
        )
    ).json()["data"]
    assert [(e["method"], e["route"], e["records"]) for e in events] == [
        ("POST", "/v1/testimonies", [f"testimonies/{record}"]) for record in unwritable
    ] + [("POST", "/v1/import", ["testimonies/confidential-witness"])]
    written = await client.get(f"/v1/audit?key_id={key_id}&action=write", headers=admin)
    assert written.json()["data"] == []


async def test_a_refusal_is_audited_although_its_request_rolls_back(
    database_url: URL, engine: AsyncEngine
) -> None:
    """With the app's own sessions (committed for real): the refused request writes nothing,
    and its refusal is recorded in a transaction of its own."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        await factories.testimony(session, **account("committed-secret", "confidential"))
        writer = await key(session, "write")
        await index_pending(session)
    key_id = "key-" + writer["Authorization"].split("_")[1]
    app = create_app(app_settings(database_url))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                "/v1/testimonies", json=account("committed-secret", "public"), headers=writer
            )
        assert response.status_code == 409
        async with engine.connect() as connection:
            events = await connection.execute(
                text("SELECT action, route, records FROM audit_events WHERE key_id = :key"),
                {"key": key_id},
            )
            assert events.all() == [
                ("write_refused", "/v1/testimonies", ["testimonies/committed-secret"])
            ]
            versions = await connection.scalar(
                text("SELECT version FROM testimonies WHERE id = 'committed-secret'")
            )
            assert versions == 1
    finally:
        await app.state.engine.dispose()
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM audit_events WHERE key_id = :key"), {"key": key_id}
            )
            await connection.execute(text("DELETE FROM api_keys WHERE id = :key"), {"key": key_id})
            for table, column in (
                ("search_documents", "record_id"),
                ("record_views", "record_id"),
                ("revisions", "record_id"),
                ("testimonies", "id"),
            ):
                await connection.execute(
                    text(f"DELETE FROM {table} WHERE {column} = 'committed-secret'")
                )
            await factories.recount(connection)


async def test_a_testimony_with_an_excerpt_above_the_key_is_not_written_by_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A write-only key reads a public testimony without its confidential excerpt: it may not
    write it (its excerpts would replace one it never saw, or confirm a guess of it)."""
    await factories.source(session, id="report", archived_text=TEXT)
    await factories.testimony(
        session,
        id="mixed",
        protection_level="public",
        excerpts=[{"source": "report", "quote": QUOTE, "protection_level": "confidential"}],
    )
    writer = await key(session, "write")
    assert (await client.get("/v1/testimonies/mixed", headers=writer)).json()["citations"] == []
    guess = account(
        "mixed",
        "public",
        excerpts=[{"source": "report", "quote": QUOTE, "protection_level": "confidential"}],
    )
    answers = [
        await client.patch(
            "/v1/testimonies/mixed",
            json={"excerpts": guess["excerpts"]},
            headers=writer | {"If-Match": "*"},
        ),
        await client.post(
            "/v1/import?dry_run=true",
            content=ndjson({"type": "testimony", "record": guess}),
            headers=writer | NDJSON,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 403
        assert "read:confidential" in answer.json()["detail"]
    # Nor do its revisions show the excerpt to a client that may not read it.
    assert (await client.get("/v1/testimonies/mixed/revisions/1")).status_code == 403
    assert (await client.get("/v1/testimonies/mixed/revisions")).json()["data"][0][
        "changes"
    ] is None


async def test_a_source_change_does_not_quote_the_records_it_would_break(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.source(session, id="report", archived_text=TEXT)
    await factories.testimony(
        session,
        id="hidden",
        protection_level="confidential",
        excerpts=[{"source": "report", "quote": QUOTE}],
    )
    writer = await key(session, "write")
    response = await client.patch(
        "/v1/sources/report",
        json={"archived_text": "Another text."},
        headers=writer | {"If-Match": "*"},
    )
    assert response.status_code == 422
    assert QUOTE not in response.text
    assert "hidden" not in response.text


async def test_an_import_creates_relayed_sources_first_and_names_a_cycle(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    writer = await key(session, "write")

    def source(record_id: str, *relays: str) -> dict[str, Any]:
        record = {"id": record_id, "title": record_id, "source_type": "news_report"}
        return {"type": "source", "record": record | {"relays": list(relays)}}

    ordered = await client.post(
        "/v1/import",
        content=ndjson(source("article", "wire"), source("wire", "bulletin"), source("bulletin")),
        headers=writer | NDJSON,
    )
    assert ordered.status_code == 200, ordered.text
    assert ordered.json()["created"] == {"sources": 3}
    article = (await client.get("/v1/sources/article")).json()
    assert [s["id"] for s in article["relays"]] == ["wire"]
    # Re-imported as it is, the chain is unchanged.
    again = await client.post(
        "/v1/import",
        content=ndjson(source("article", "wire"), source("wire", "bulletin"), source("bulletin")),
        headers=writer | NDJSON,
    )
    assert again.json()["unchanged"] == {"sources": 3}
    # New sources that relay each other cannot be created one before the other.
    cycle = await client.post(
        "/v1/import",
        content=ndjson(source("left", "right"), source("other"), source("right", "left")),
        headers=writer | NDJSON,
    )
    assert cycle.status_code == 422
    assert [e["name"] for e in cycle.json()["errors"]] == [
        "line 1: record.relays.0",
        "line 3: record.relays.0",
    ]
    assert "lines 1, 3" in cycle.json()["errors"][0]["message"]
    # An existing source may be made to relay a new one that relays it.
    closing = await client.post(
        "/v1/import",
        content=ndjson(source("bulletin", "echo"), source("echo", "bulletin")),
        headers=writer | NDJSON,
    )
    assert closing.status_code == 200, closing.text
    assert closing.json()["created"] == {"sources": 1}
    assert closing.json()["updated"] == {"sources": 1}


async def test_an_import_goes_through_the_single_write_with_its_history_and_audit(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await testimonies(session)
    writer = await key(session, "write+restricted")
    lines = [
        {"type": "testimony", "record": account("restricted-witness", "restricted")},
        {"type": "claim", "record": claim_body("hours", "restricted-witness")},
    ]
    first = await client.post("/v1/import", content=ndjson(*lines), headers=writer | NDJSON)
    assert first.json() == {
        "dry_run": False,
        "created": {"claims": 1},
        "updated": {},
        "unchanged": {"testimonies": 1},
    }
    changed = [lines[0] | {"record": lines[0]["record"] | {"summary": "Reviewed."}}, lines[1]]
    second = await client.post("/v1/import", content=ndjson(*changed), headers=writer | NDJSON)
    assert second.json()["updated"] == {"testimonies": 1}
    assert second.json()["unchanged"] == {"claims": 1}
    history = await client.get("/v1/testimonies/restricted-witness/revisions", headers=writer)
    assert [r["action"] for r in history.json()["data"]] == ["created", "updated"]
    admin = await factories.api_key(session, "admin")
    key_id = "key-" + writer["Authorization"].split("_")[1]
    events = (
        await client.get(f"/v1/audit?key_id={key_id}&action=write&sort=occurred_at", headers=admin)
    ).json()["data"]
    assert [(e["route"], e["records"]) for e in events] == [
        ("/v1/import", ["claims/hours"]),
        ("/v1/import", ["testimonies/restricted-witness"]),
    ]
