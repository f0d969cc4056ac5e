"""Advisory locks that keep several processes from running the same set-up at once
(several API containers starting together each migrate and load the seed)."""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncSession

# Arbitrary, fixed keys in PostgreSQL's advisory-lock space.
MIGRATION_LOCK = 7_270_301
SEED_LOCK = 7_270_302

# Every lock is held until the transaction ends: locks held by a session would stay with a
# server connection that PgBouncer hands to other clients.
_HOLD = text("SELECT pg_advisory_xact_lock(:key)")


async def hold_until_commit(session: AsyncSession, key: int) -> None:
    """Wait for the lock; it is released when the session's transaction ends."""
    await session.execute(_HOLD, {"key": key})


def hold_migration_lock(connection: Connection) -> None:
    """The migration lock, in the migrations' transaction (Alembic runs them synchronously)."""
    connection.execute(_HOLD, {"key": MIGRATION_LOCK})
