"""Alembic environment: async engine, URL from the caller or from the project's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.db import locks
from app.db.engine import make_engine, resolve_database_url
from app.db.models import Base
from app.settings import get_settings

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = context.config.attributes.get("database_url") or resolve_database_url(get_settings())
    engine = make_engine(url, pooled=False)
    try:
        async with engine.connect() as connection:
            await locks.acquire(connection, locks.MIGRATION_LOCK)
            try:
                await connection.run_sync(_configure)
                await connection.commit()
            finally:
                await locks.release(connection, locks.MIGRATION_LOCK)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

asyncio.run(_run_online())
