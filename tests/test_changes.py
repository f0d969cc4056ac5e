"""Concurrency and the change feed, with real commits: these tests write through an app
that commits, and empty the database afterwards."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_two_concurrent_updates_with_one_etag_exactly_one_wins(
    committed: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]],
) -> None:
    client, writer, _ = committed
    created = await client.post(
        "/v1/organizations", json={"id": "org", "name": "Org", "kind": "other"}, headers=writer
    )
    assert created.status_code == 201
    answers = await asyncio.gather(
        *[
            client.patch(
                "/v1/organizations/org",
                json={"name": f"Name {n}"},
                headers=writer | {"If-Match": created.headers["etag"]},
            )
            for n in range(2)
        ]
    )
    assert sorted(a.status_code for a in answers) == [200, 412]
    winner = next(a for a in answers if a.status_code == 200)
    final = await client.get("/v1/organizations/org")
    assert final.json()["name"] == winner.json()["name"]
    assert final.json()["state"]["version"] == 2


WORKERS = 10


async def follow(
    client: httpx.AsyncClient, after: str | None, headers: dict[str, str] | None = None
) -> tuple[list[tuple[str, str, int]], str | None]:
    """Read the feed from `after` to its current end."""
    seen: list[tuple[str, str, int]] = []
    while True:
        params: dict[str, Any] = {"limit": 7}
        if after:
            params["after"] = after
        body = (await client.get("/v1/changes", params=params, headers=headers or {})).json()
        seen += [(c["record_type"], c["record_id"], c["revision"]) for c in body["data"]]
        after = body["page"]["next_cursor"]
        if not body["data"]:
            return seen, after


async def test_the_feed_yields_every_change_once_while_writers_run(
    committed: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]],
) -> None:
    client, writer, _ = committed
    done = asyncio.Event()

    async def write(worker: int) -> None:
        for n in range(6):
            record = f"org-{worker}-{n}"
            created = await client.post(
                "/v1/organizations",
                json={"id": record, "name": record, "kind": "other"},
                headers=writer,
            )
            assert created.status_code == 201, created.text
            if n % 2 == 0:
                updated = await client.patch(
                    f"/v1/organizations/{record}",
                    json={"name": f"{record} renamed"},
                    headers=writer | {"If-Match": created.headers["etag"]},
                )
                assert updated.status_code == 200
            if n == 5:
                retracted = await client.delete(
                    f"/v1/organizations/{record}?reason=duplicate",
                    headers=writer | {"If-Match": '"1-confidential"'},
                )
                assert retracted.status_code == 200

    seen: list[tuple[str, str, int]] = []

    async def read() -> None:
        after = None
        while not done.is_set():
            batch, after = await follow(client, after)
            seen.extend(batch)
            await asyncio.sleep(0)
        batch, _ = await follow(client, after)
        seen.extend(batch)

    reader = asyncio.create_task(read())
    await asyncio.gather(*[write(worker) for worker in range(WORKERS)])
    done.set()
    await reader
    assert len(seen) == len(set(seen)), "a change was delivered twice"
    workers = range(WORKERS)
    expected = {("organizations", f"org-{w}-{n}", 1) for w in workers for n in range(6)}
    expected |= {("organizations", f"org-{w}-{n}", 2) for w in workers for n in (0, 2, 4)}
    expected |= {("organizations", f"org-{w}-5", 2) for w in workers}
    assert set(seen) == expected, "a change was missed"
    for record in {r for _, r, _ in seen}:
        revisions = [rev for _, r, rev in seen if r == record]
        assert revisions == sorted(revisions)


async def test_the_feed_hides_what_the_client_may_not_see(
    committed: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]],
) -> None:
    client, writer, reader = committed
    body = {
        "id": "hidden",
        "witness_pseudonym": "Inside source",
        "witness_role": "inside_source",
        "summary": "An account.",
        "protection_level": "confidential",
        "protection_reason": "An inside source.",
    }
    assert (await client.post("/v1/testimonies", json=body, headers=writer)).status_code == 201
    public = {"id": "org", "name": "Org", "kind": "other"}
    assert (await client.post("/v1/organizations", json=public, headers=writer)).status_code == 201
    anonymous, end = await follow(client, None)
    assert anonymous == [("organizations", "org", 1)]
    assert ("testimonies", "hidden", 1) not in anonymous
    privileged, _ = await follow(client, None, reader)
    assert ("testimonies", "hidden", 1) in privileged
    # A cursor is bound to the access level it was issued for.
    refused = await client.get("/v1/changes", params={"after": end}, headers=reader)
    assert refused.status_code == 400


async def test_the_feed_returns_a_cursor_at_its_end(
    committed: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]],
) -> None:
    client, writer, _ = committed
    first, end = await follow(client, None)
    assert first == []
    await client.post(
        "/v1/organizations", json={"id": "late", "name": "Late", "kind": "other"}, headers=writer
    )
    later, _ = await follow(client, end)
    assert later == [("organizations", "late", 1)]


async def test_a_slow_writer_is_not_overtaken(
    committed: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]], engine: AsyncEngine
) -> None:
    """A transaction that started first but commits last must still reach a reader who has
    already read the faster transaction's change."""
    client, writer, _ = committed
    insert = text(
        "INSERT INTO revisions (record_type, record_id, revision, action, snapshot, status) "
        "VALUES ('organizations', 'slow', 1, 'created', '{}', 'active')"
    )
    async with engine.connect() as slow:
        transaction = await slow.begin()
        await slow.execute(insert)  # takes a transaction id, holds it open
        fast = {"id": "fast", "name": "Fast", "kind": "other"}
        assert (
            await client.post("/v1/organizations", json=fast, headers=writer)
        ).status_code == 201
        seen, cursor = await follow(client, None)
        assert seen == []  # the fast change waits until the slow one is settled
        await transaction.commit()
    seen, _ = await follow(client, cursor)
    assert seen == [("organizations", "slow", 1), ("organizations", "fast", 1)]


async def test_an_empty_feed_still_gives_a_cursor_and_kinds_are_checked(
    committed: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]],
) -> None:
    client, writer, _ = committed
    empty = (await client.get("/v1/changes")).json()
    assert empty["data"] == []
    assert empty["page"]["next_cursor"]
    await client.post(
        "/v1/organizations", json={"id": "first", "name": "First", "kind": "other"}, headers=writer
    )
    after = {"after": empty["page"]["next_cursor"]}
    assert [
        c["record_id"] for c in (await client.get("/v1/changes", params=after)).json()["data"]
    ] == ["first"]
    assert (await client.get("/v1/changes?record_type=planets")).status_code == 422
