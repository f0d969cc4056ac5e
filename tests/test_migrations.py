from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import URL

from app.db import migrations
from app.db.engine import make_engine
from app.db.models import Base
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
