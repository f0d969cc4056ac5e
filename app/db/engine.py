"""Engines, sessions and the request-scoped session dependency."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection

from app.db.embedded import embedded_server_url
from app.db.replica import READ_METHODS, Replica, current_position
from app.settings import Settings

logger = logging.getLogger(__name__)

_INVALID_CATALOG_NAME = "3D000"  # SQLSTATE: the database does not exist
# Seconds the driver waits beyond the server's statement_timeout before giving up on a server
# that stopped answering without closing the connection.
_DRIVER_GRACE = 2.0
# Seconds a rollback may take, however the request ended.
ROLLBACK_SECONDS = 5.0


def async_url(url: str | URL) -> URL:
    """Accept any PostgreSQL URL spelling and return one for the asyncpg driver."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise ValueError(f"only PostgreSQL is supported, not {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+asyncpg")


def resolve_database_url(settings: Settings) -> URL:
    """The configured server, or the embedded one when DATABASE_URL is unset."""
    if settings.database_url:
        return async_url(settings.database_url)
    return embedded_server_url(settings.data_dir, settings.database_name)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


# PgBouncer in transaction mode gives each transaction whichever server connection is free:
# nothing prepared may be reused later, and statement names must not collide with those other
# clients left on the same server connection.
_PGBOUNCER_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,  # asyncpg's own cache
    "prepared_statement_cache_size": 0,  # SQLAlchemy's
    "prepared_statement_name_func": _unique_statement_name,
}


def make_engine(
    url: URL,
    *,
    pool_size: int = 5,
    pooled: bool = True,
    statement_timeout: float | None = None,
    connect_timeout: float | None = None,
    pool_timeout: float = 30.0,
    pgbouncer: bool = False,
) -> AsyncEngine:
    """An engine for `url`. The API passes its deadlines (the command line runs unbounded):
    `statement_timeout` is PostgreSQL's own, per statement, and the driver gives up a little
    after it; `connect_timeout` bounds a new connection, `pool_timeout` the wait for a pooled
    one. A pooled connection the server closed is replaced before it is handed out (a
    restart closes them all).
    `pgbouncer`: `url` is a PgBouncer in transaction mode (see DATABASE_PGBOUNCER)."""
    connect_args: dict[str, Any] = dict(_PGBOUNCER_ARGS) if pgbouncer else {}
    if not pgbouncer:
        # Prepared statements are cached per connection; from a statement's sixth run
        # PostgreSQL may switch to a generic plan, which for the corroboration queries (arrays
        # of ids, a recursive walk) is many times slower than planning each run.
        connect_args["server_settings"] = {"plan_cache_mode": "force_custom_plan"}
    if statement_timeout is not None:
        connect_args["command_timeout"] = statement_timeout + _DRIVER_GRACE
        if not pgbouncer:
            milliseconds = str(int(statement_timeout * 1000))
            connect_args["server_settings"]["statement_timeout"] = milliseconds
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    if not pooled:
        engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    else:
        engine = create_async_engine(
            url, pool_size=pool_size, pool_timeout=pool_timeout, connect_args=connect_args
        )
        event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    if pgbouncer and statement_timeout is not None:
        _time_out_per_transaction(engine, statement_timeout)
    return engine


def _refuse_closed_connection(
    dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """A pooled connection the server closed (a restart, a terminated backend) is replaced
    before it is handed out. The driver learns of the close as it happens, so checking costs
    no round trip, unlike a ping per checkout."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _time_out_per_transaction(engine: AsyncEngine, statement_timeout: float) -> None:
    """statement_timeout for every transaction, as its first statement: PgBouncer refuses
    it as a connection setting, and a session-level SET would stay behind on a server
    connection that other clients share."""
    setting = f"SET LOCAL statement_timeout = {int(statement_timeout * 1000)}"

    @event.listens_for(engine.sync_engine, "begin")
    def _set_statement_timeout(connection: Connection) -> None:
        # Outside a transaction (AUTOCOMMIT) a SET LOCAL would do nothing.
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql(setting)


async def ensure_database(url: URL) -> bool:
    """Create the database named in `url` if the server lacks it. True when it was created.

    The server's `postgres` database is used only when the target is missing, so a role that
    may connect to its own database alone works as well.
    """
    probe = create_async_engine(url, poolclass=NullPool)
    try:
        async with probe.connect():
            return False
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != _INVALID_CATALOG_NAME:
            raise
    finally:
        await probe.dispose()
    admin = create_async_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(url.database or "")
            await connection.execute(text(f"CREATE DATABASE {quoted}"))
            return True
    finally:
        await admin.dispose()


def read_sessions(
    engine: AsyncEngine, *, pgbouncer: bool
) -> async_sessionmaker[AsyncSession] | None:
    """Sessions for reads, each statement its own transaction (AUTOCOMMIT): a read sends no
    BEGIN and no COMMIT, two round trips fewer, and sees what a READ COMMITTED transaction
    would (a snapshot per statement). None behind PgBouncer, whose statement deadline is set
    per transaction."""
    if pgbouncer:
        return None
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(autocommit, expire_on_commit=False)


BeforeCommit = Callable[[AsyncSession], Awaitable[None]]


def before_commit(request: Request, hook: BeforeCommit) -> None:
    """Run `hook` in the request's transaction once the handler has succeeded (audit rows
    are written with the data they record, or not at all)."""
    request.state.before_commit = [*getattr(request.state, "before_commit", []), hook]


def whatever_happens(request: Request, hook: BeforeCommit) -> None:
    """Run `hook` whether the request's transaction commits or rolls back: in it before it
    commits, or after it rolled back in a short transaction of its own. For what is recorded
    of a request that fails too, such as an audited refusal."""
    request.state.whatever_happens = [*getattr(request.state, "whatever_happens", []), hook]


async def run_before_commit(request: Request, session: AsyncSession) -> None:
    """The request's own hooks, then those the app runs before every commit (keeping
    derived data such as search documents in step)."""
    await _run_request_hooks(request, session)
    await _run_app_hooks(request, session)


async def _run_request_hooks(request: Request, session: AsyncSession) -> None:
    for hook in getattr(request.state, "before_commit", []):
        await hook(session)
    await run_whatever_happens(request, session)


async def _run_app_hooks(request: Request, session: AsyncSession) -> None:
    for hook in getattr(request.app.state, "before_every_commit", ()):
        await hook(session)


async def _record_what_a_read_did(
    request: Request, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The read's own hooks (the audit of what it disclosed), in a transaction on the primary
    that begins only when one of them writes; the app's hooks run before that commit, as
    before every commit. Most reads record nothing, and open nothing."""
    if not (
        getattr(request.state, "before_commit", None)
        or getattr(request.state, "whatever_happens", None)
    ):
        return
    async with sessionmaker() as session:
        await _run_request_hooks(request, session)
        if session.in_transaction():
            await _run_app_hooks(request, session)
            await session.commit()


async def run_whatever_happens(request: Request, session: AsyncSession) -> None:
    """The hooks registered with `whatever_happens`, in `session`'s transaction: the request's
    own before it commits, or a new one once it rolled back (the caller commits it)."""
    for hook in getattr(request.state, "whatever_happens", []):
        await hook(session)


async def _keep_after_rollback(request: Request, session: AsyncSession) -> None:
    if not getattr(request.state, "whatever_happens", None):
        return
    try:
        await run_whatever_happens(request, session)
        await session.commit()
    except Exception:  # the request's own error is the one to answer with
        logger.exception("could not record what a failed request left to record")
        await session.rollback()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler succeeds, rolled back otherwise.

    A read runs on a session of its own, outside a transaction (see `read_sessions`), on the
    replica when DATABASE_REPLICA_URL names one that may serve it; what the read records (the
    audit of a disclosure) is written on the primary afterwards, in one transaction, opened
    only when there is something to write. Everything else runs in one transaction on the
    primary, and a committed write leaves its position for the client's reads."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    replica: Replica | None = request.app.state.replica
    reading = None
    if request.method in READ_METHODS:
        if replica is not None:
            reading = await replica.session_for(request)
        if reading is None and request.app.state.read_sessionmaker is not None:
            reading = request.app.state.read_sessionmaker()
    if reading is not None:
        async with reading:
            try:
                yield reading
            except BaseException:
                await roll_back(reading)
                async with sessionmaker() as session:
                    await _keep_after_rollback(request, session)
                raise
        await _record_what_a_read_did(request, sessionmaker)
        return
    async with sessionmaker() as session:
        try:
            yield session
            await run_before_commit(request, session)
            await session.commit()
        except BaseException:
            await roll_back(session)
            await _keep_after_rollback(request, session)
            raise
        if replica is not None and request.method not in READ_METHODS:
            await _leave_written_position(request, replica, session)


async def _leave_written_position(
    request: Request, replica: Replica, session: AsyncSession
) -> None:
    try:
        position = await current_position(session)
    except Exception as error:  # committed already: the write stands, unfollowed
        logger.warning("could not read the position of a committed write: %s", error)
        return
    replica.positions.remember(request, position)
    request.state.written_position = position


async def roll_back(session: AsyncSession) -> None:
    """Undo the request's transaction, also when the request is being cancelled (a shutdown's
    grace period is over): shielded from the cancellation, and bounded. A rollback that fails
    has lost its connection, and the transaction went with it."""
    with anyio.move_on_after(ROLLBACK_SECONDS, shield=True):
        try:
            await session.rollback()
        except Exception as error:
            logger.warning("rollback failed, the connection is lost: %s", error)


# "function" scope: the transaction commits before the response is sent, so a failed commit
# is an error the client sees, not a success that was never stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
