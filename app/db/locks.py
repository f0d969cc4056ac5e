"""Advisory locks that keep several processes from running the same set-up at once
(several API containers starting together each migrate and load the seed)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# Arbitrary, fixed keys in PostgreSQL's advisory-lock space.
MIGRATION_LOCK = 7_270_301
SEED_LOCK = 7_270_302


async def hold_until_commit(session: AsyncSession, key: int) -> None:
    """Wait for the lock; it is released when the session's transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def acquire(connection: AsyncConnection, key: int) -> None:
    await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    await connection.commit()


async def release(connection: AsyncConnection, key: int) -> None:
    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    await connection.commit()
