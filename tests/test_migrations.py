from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import URL

from app.db import migrations
from app.db.engine import make_engine
from app.models import Base
from tests.conftest import recreate_database


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_models_and_migrations_agree(database_url: URL) -> None:
    engine = make_engine(database_url, pooled=False)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == [], "the models differ from the migrated schema; write a revision"


async def test_migrations_downgrade_to_base_and_upgrade_again(database_url: URL) -> None:
    url = database_url.set(database=f"{database_url.database}_migrations")
    await recreate_database(url)
    engine = make_engine(url, pooled=False)
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        async with engine.connect() as connection:
            assert set(Base.metadata.tables) <= await connection.run_sync(_tables)
        await asyncio.to_thread(migrations.downgrade, url, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) <= {"alembic_version"}
        await asyncio.to_thread(migrations.upgrade, url)
        async with engine.connect() as connection:
            assert set(Base.metadata.tables) <= await connection.run_sync(_tables)
    finally:
        await engine.dispose()


async def test_the_reasons_and_titles_revision_keeps_existing_data(database_url: URL) -> None:
    """Records protected before reasons were required keep their level with a stated
    placeholder; a title written wholly in square brackets becomes a supplied one."""
    url = database_url.set(database=f"{database_url.database}_titles")
    await recreate_database(url)
    engine = make_engine(url, pooled=False)
    try:
        await asyncio.to_thread(migrations.upgrade, url, "3c1e9f27a4d8")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO sources (id, title, source_type) VALUES "
                    "('bracketed', '[A report without a headline]', 'news_report'), "
                    "('titled', 'A [bracketed] word', 'news_report')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO testimonies (id, witness_pseudonym, witness_role, summary, "
                    "protection_level) VALUES ('kept', 'K', 'survivor', 'An account.', "
                    "'restricted'), ('open', 'O', 'survivor', 'An account.', 'public')"
                )
            )
        await asyncio.to_thread(migrations.upgrade, url)
        async with engine.connect() as connection:
            titles: dict[str, bool] = dict(
                (await connection.execute(text("SELECT title, title_supplied FROM sources"))).all()
            )
            reasons: dict[str, str | None] = dict(
                (
                    await connection.execute(text("SELECT id, protection_reason FROM testimonies"))
                ).all()
            )
        assert titles == {"A report without a headline": True, "A [bracketed] word": False}
        assert reasons["open"] is None
        assert "not recorded" in (reasons["kept"] or "")
        await asyncio.to_thread(migrations.downgrade, url, "3c1e9f27a4d8")
        async with engine.connect() as connection:
            restored = (await connection.execute(text("SELECT title FROM sources"))).scalars()
            assert set(restored) == {"[A report without a headline]", "A [bracketed] word"}
    finally:
        await engine.dispose()
