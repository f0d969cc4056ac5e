"""Sealed cursors: AES-GCM under keys derived from CURSOR_SECRET, rotation, and the secret
generated in the data folder when none is configured."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from app.cli import cli
from app.db.engine import get_session
from app.kit.cursor_secrets import SECRET_FILE, CursorSecretError, stored_secret
from app.main import create_app
from app.rendering.indexing import index_pending
from app.settings import Settings
from tests import factories
from tests.conftest import app_settings

NOT_ISSUED = "it is not a cursor this API issued"
OTHER_BINDING = "another sort, other filters or another access level"
PAGE = "/v1/sources"
QUERY = {"limit": "1", "sort": "title"}


@asynccontextmanager
async def serving(settings: Settings, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another app (its own settings) on the test's session."""
    app = create_app(settings, pooled=False)

    async def test_session() -> AsyncIterator[AsyncSession]:
        await index_pending(session)  # the test's records, rendered as their commit would
        yield session

    app.dependency_overrides[get_session] = test_session
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await app.state.engine.dispose()


async def sources(session: AsyncSession) -> None:
    for title in ("Alpha", "Beta", "Gamma"):
        await factories.source(session, id=f"src-{title.lower()}", title=title)


async def first_cursor(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> str:
    response = await client.get(PAGE, params=QUERY, headers=headers)
    assert response.status_code == 200, response.text
    cursor: str = response.json()["page"]["next_cursor"]
    assert cursor
    return cursor


async def next_ids(
    client: httpx.AsyncClient, cursor: str, headers: dict[str, str] | None = None
) -> list[str]:
    response = await client.get(PAGE, params=QUERY | {"cursor": cursor}, headers=headers)
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()["data"]]


def assert_invalid(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:testimony-api:problem:invalid-cursor"
    assert reason in problem["detail"]


async def test_a_cursor_opens_after_a_round_trip(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sources(session)
    cursor = await first_cursor(client)
    assert await next_ids(client, cursor) == ["src-beta"]
    # URL-safe base64 without padding: a 96-bit nonce, the ciphertext, a 128-bit tag.
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"src-alpha" not in raw
    assert b"Alpha" not in raw
    assert len(raw) > 12 + 16
    # A fresh nonce for every cursor: the same position is sealed differently each time.
    again = await first_cursor(client)
    assert again != cursor
    assert await next_ids(client, again) == ["src-beta"]


def flip_middle(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        flip_middle,
        lambda c: c[:-1],  # truncated
        lambda c: c[:-8],
        lambda c: c[:30],
        lambda c: c + c,
        lambda c: c + "==",
        lambda c: c.replace("-", "+").replace("_", "/") if "-" in c or "_" in c else c + "+",
        lambda c: "not-a-cursor",
        lambda c: "A" * 40,
        lambda c: base64.urlsafe_b64encode(b'{"f":"x","k":["a","b"]}').decode().rstrip("="),
        lambda c: "é" * 40,
    ],
    ids=[
        "flipped",
        "truncated-1",
        "truncated-8",
        "truncated-30",
        "doubled",
        "padded",
        "standard-base64",
        "word",
        "zeros",
        "plain-json",
        "non-ascii",
    ],
)
async def test_an_altered_cursor_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, tamper: Callable[[str], str]
) -> None:
    await sources(session)
    cursor = await first_cursor(client)
    altered = tamper(cursor)
    assert altered != cursor
    assert_invalid(await client.get(PAGE, params=QUERY | {"cursor": altered}), NOT_ISSUED)


async def test_a_cursor_sealed_with_another_secret_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, database_url: URL
) -> None:
    await sources(session)
    async with serving(app_settings(database_url, cursor_secret="another"), session) as other:
        foreign = await first_cursor(other)
        assert await next_ids(other, foreign) == ["src-beta"]
    assert_invalid(await client.get(PAGE, params=QUERY | {"cursor": foreign}), NOT_ISSUED)


@pytest.mark.parametrize("scope", ["read:restricted", "read:confidential"])
async def test_a_cursor_from_another_access_tier_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, scope: str
) -> None:
    await sources(session)
    headers = await factories.api_key(session, scope)
    cursor = await first_cursor(client, headers)
    assert await next_ids(client, cursor, headers) == ["src-beta"]
    assert_invalid(await client.get(PAGE, params=QUERY | {"cursor": cursor}), OTHER_BINDING)
    anonymous = await first_cursor(client)
    assert_invalid(
        await client.get(PAGE, params=QUERY | {"cursor": anonymous}, headers=headers), OTHER_BINDING
    )


async def test_rotation_opens_cursors_of_the_previous_secret_until_it_is_removed(
    session: AsyncSession, database_url: URL
) -> None:
    await sources(session)
    before = app_settings(database_url, cursor_secret="old-secret")
    during = app_settings(database_url, cursor_secret="new-secret, old-secret")
    after = app_settings(database_url, cursor_secret="new-secret")
    async with serving(before, session) as client:
        old = await first_cursor(client)
    async with serving(during, session) as client:
        assert await next_ids(client, old) == ["src-beta"]
        new = await first_cursor(client)
    async with serving(after, session) as client:
        # The first secret seals: what was issued during the rotation stays valid after it.
        assert await next_ids(client, new) == ["src-beta"]
        assert_invalid(await client.get(PAGE, params=QUERY | {"cursor": old}), NOT_ISSUED)


def generated(data_dir: Path, database_url: URL, **overrides: object) -> Settings:
    values: dict[str, object] = {"cursor_secret": None, "data_dir": data_dir, "host": "127.0.0.1"}
    return app_settings(database_url, **(values | overrides))


async def test_without_a_secret_one_is_generated_once_in_the_data_folder(
    session: AsyncSession, database_url: URL, tmp_path: Path
) -> None:
    await sources(session)
    data_dir = tmp_path / "data"
    path = data_dir / SECRET_FILE
    async with serving(generated(data_dir, database_url), session) as client:
        cursor = await first_cursor(client)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 43
    assert os.listdir(data_dir) == [SECRET_FILE]
    # A restart (or another worker) reads the same secret and opens the same cursors.
    async with serving(generated(data_dir, database_url, cursor_secret=" , "), session) as client:
        assert await next_ids(client, cursor) == ["src-beta"]
    assert path.read_text().strip() == secret
    async with serving(generated(tmp_path / "elsewhere", database_url), session) as client:
        assert_invalid(await client.get(PAGE, params=QUERY | {"cursor": cursor}), NOT_ISSUED)


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        secrets = set(pool.map(lambda _: stored_secret(tmp_path), range(32)))
    assert secrets == {(tmp_path / SECRET_FILE).read_text().strip()}
    assert os.listdir(tmp_path) == [SECRET_FILE]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "evidence.example.org"])
def test_without_a_secret_the_app_does_not_start_beyond_loopback(
    database_url: URL, tmp_path: Path, host: str
) -> None:
    # Not even with a secret generated earlier in the data folder: other machines lack it.
    stored_secret(tmp_path)
    with pytest.raises(CursorSecretError, match="CURSOR_SECRET is not set"):
        create_app(generated(tmp_path, database_url, host=host), pooled=False)
    configured = create_app(
        generated(tmp_path, database_url, host=host, cursor_secret="set"), pooled=False
    )
    assert configured.state.cursors is not None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_may_use_the_generated_secret(
    database_url: URL, tmp_path: Path, host: str
) -> None:
    create_app(generated(tmp_path, database_url, host=host), pooled=False)
    assert (tmp_path / SECRET_FILE).exists()


def test_serve_refuses_to_listen_beyond_loopback_without_a_secret(tmp_path: Path) -> None:
    unreachable = "postgresql://postgres@127.0.0.1:1/none"  # never gets as far as serving
    env: dict[str, str | None] = {
        "CURSOR_SECRET": None,
        "HOST": None,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": unreachable,
    }
    runner = CliRunner()
    refused = runner.invoke(cli, ["serve", "--host", "0.0.0.0"], env=env)
    assert refused.exit_code == 2
    assert "CURSOR_SECRET is not set" in refused.output
    assert "'0.0.0.0'" in refused.output
    assert not (tmp_path / SECRET_FILE).exists()
    # With a secret, serve goes on to the database (unreachable here).
    configured: dict[str, Any] = env | {"CURSOR_SECRET": "set"}
    allowed = runner.invoke(cli, ["serve", "--host", "0.0.0.0"], env=configured)
    assert allowed.exit_code == 2
    assert "CURSOR_SECRET" not in allowed.output
    assert "cannot reach the database" in allowed.output
