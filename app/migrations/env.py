"""Alembic environment: async engine, URL from the caller or from the project's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.db import locks
from app.db.engine import make_engine, resolve_database_url
from app.models import Base
from app.settings import get_settings

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    # One transaction for the whole upgrade, holding the lock until it commits: a lock held
    # by the session would outlive it through PgBouncer (see DATABASE_PGBOUNCER). The
    # revision is read after the lock, so a process that waited finds the work done.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        locks.hold_migration_lock(connection)
        context.run_migrations()


async def _run_online() -> None:
    settings = get_settings()
    url = context.config.attributes.get("database_url") or resolve_database_url(settings)
    engine = make_engine(url, pooled=False, pgbouncer=settings.database_pgbouncer)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

asyncio.run(_run_online())
