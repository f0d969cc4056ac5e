"""Reads from a streaming replica, with read-after-write for the client that wrote.

A request that may be served by the replica (GET and HEAD) reads from it when:
- the replica answers and is caught up to within DATABASE_REPLICA_MAX_LAG seconds, and
- it has replayed the client's own last write, if that was recent.

Lag is measured against the primary: about once a second a process samples the primary's WAL
position, then the replica's replay position; the replica is as fresh as the newest sample it
has replayed. This needs no privilege on either server and also notices a replica whose
connection to the primary broke (it stops replaying, so it falls behind the samples).

A committed write answers with the primary's WAL position just after its commit, in a cookie,
and the process also remembers it for the API key that wrote. A read carrying either is served
by the replica only once the replica has replayed that position; until then by the primary.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import MutableHeaders

from app.kit.errors import database_unavailable

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD"})
WRITTEN_COOKIE = "testimony-written"
# Seconds a write position is honoured: far longer than a healthy replica takes to replay it,
# and once the replica is past it honouring it costs nothing.
WRITTEN_SECONDS = 60
_REMEMBERED_CLIENTS = 100_000
# Seconds between two samples of the positions, per process.
PROBE_SECONDS = 1.0


def parse_lsn(value: str) -> int:
    """A PostgreSQL WAL position (`16/B374D848`) as a number that compares in WAL order."""
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


async def current_position(session: AsyncSession) -> int:
    """The primary's WAL position now: past the commit of every transaction committed so far.
    Read outside a transaction (one round trip)."""
    connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return parse_lsn(await connection.scalar(text("SELECT pg_current_wal_lsn()::text")))


def _client_of(request: Request) -> str | None:
    header = request.headers.get("authorization")
    return hashlib.blake2b(header.encode(), digest_size=16).hexdigest() if header else None


class WrittenPositions:
    """The WAL position of each API key's last write, for WRITTEN_SECONDS (in this process)."""

    def __init__(self) -> None:
        self._positions: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def remember(self, request: Request, position: int) -> None:
        client = _client_of(request)
        if client is None:
            return
        now = time.monotonic()
        self._positions.pop(client, None)
        self._positions[client] = (position, now + WRITTEN_SECONDS)
        # Oldest first: drop what has expired, and the oldest beyond the bound.
        while self._positions:
            _, (_, expires) = next(iter(self._positions.items()))
            if expires > now and len(self._positions) <= _REMEMBERED_CLIENTS:
                break
            self._positions.popitem(last=False)

    def required(self, request: Request) -> int:
        """The position the replica must have replayed to serve this client (0: any)."""
        remembered = 0
        client = _client_of(request)
        if client is not None:
            position, expires = self._positions.get(client, (0, 0.0))
            remembered = position if expires > time.monotonic() else 0
        cookie = request.cookies.get(WRITTEN_COOKIE, "")
        try:
            sent = int(cookie, 16) if cookie else 0
        except ValueError:
            sent = 0
        return max(remembered, sent)


@dataclass
class _Sample:
    at: float
    position: int


class Replica:
    """The replica's engine and what this process knows of its freshness."""

    def __init__(self, engine: AsyncEngine, primary: AsyncEngine, max_lag: float) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self._primary = primary
        self._max_lag = max_lag
        self.positions = WrittenPositions()
        # Primary positions the replica had not replayed when sampled, oldest first.
        self._pending: deque[_Sample] = deque(maxlen=64)
        self._fresh_as_of: float | None = None  # the replica had all the primary had then
        self._replayed = 0
        self._reachable = False
        self._probed_at = float("-inf")
        self._probing = False
        # Reads served, by where from and why: for logs, tests and benchmarks.
        self.served: dict[str, int] = {}

    def _count(self, outcome: str) -> None:
        self.served[outcome] = self.served.get(outcome, 0) + 1

    async def session_for(self, request: Request) -> AsyncSession | None:
        """A session on the replica for this read, connected; None when the primary must
        answer it."""
        await self._probe_if_due()
        if not self._reachable:
            self._count("primary: replica unreachable")
            return None
        if self._fresh_as_of is None or time.monotonic() - self._fresh_as_of > self._max_lag:
            self._count("primary: replica lagging")
            return None
        required = self.positions.required(request)
        session = self.sessionmaker()
        try:
            connection = await session.connection()
            if required > self._replayed:
                replayed = await connection.scalar(text("SELECT pg_last_wal_replay_lsn()::text"))
                self._replayed = max(self._replayed, parse_lsn(replayed) if replayed else 0)
                if required > self._replayed:
                    await session.close()
                    self._count("primary: own write not replayed")
                    return None
        except Exception as error:
            await session.close()
            if not database_unavailable(error):
                raise
            self._unreachable(error)
            self._count("primary: replica unreachable")
            return None
        self._count("replica")
        return session

    async def serves(self, request: Request) -> bool:
        """Whether the replica may serve this read, for a session opened later (a streamed
        body's)."""
        session = await self.session_for(request)
        if session is None:
            return False
        await session.close()
        return True

    def _unreachable(self, error: BaseException) -> None:
        if self._reachable:
            logger.warning(
                "the read replica cannot be reached, reading from the primary: %s", error
            )
        self._reachable = False

    async def _probe_if_due(self) -> None:
        # One probe at a time; the other requests go by what the last one found.
        if self._probing or time.monotonic() - self._probed_at < PROBE_SECONDS:
            return
        self._probing = True
        try:
            await self._probe()
        finally:
            self._probed_at = time.monotonic()
            self._probing = False

    async def _probe(self) -> None:
        # The primary first: a replica that has replayed this position has everything the
        # primary had when it was read.
        try:
            async with self._primary.connect() as connection:
                sampled = await connection.scalar(text("SELECT pg_current_wal_lsn()::text"))
            self._pending.append(_Sample(time.monotonic(), parse_lsn(sampled)))
        except Exception as error:
            if not database_unavailable(error):
                raise
            # Without the primary no new sample: the replica ages until it is back.
        try:
            async with self.engine.connect() as connection:
                standby, replayed = (
                    await connection.execute(
                        text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
                    )
                ).one()
        except Exception as error:
            if not database_unavailable(error):
                raise
            self._unreachable(error)
            return
        if not standby:
            # Promoted, or not a replica at all: its data may part from the primary's.
            if self._reachable:
                logger.warning("DATABASE_REPLICA_URL names a server that is not in recovery")
            self._reachable = False
            return
        if not self._reachable:
            logger.info("the read replica answers")
        self._reachable = True
        self._replayed = max(self._replayed, parse_lsn(replayed))
        while self._pending and self._pending[0].position <= self._replayed:
            self._fresh_as_of = self._pending.popleft().at


def written_cookie(state: dict[str, Any], headers: MutableHeaders) -> None:
    """A write's answer carries the position of its commit as a cookie (for `StateHeaders`):
    the client's next reads wait for it on whichever API process serves them."""
    position = state.get("written_position")
    if position is not None:
        headers.append(
            "set-cookie",
            f"{WRITTEN_COOKIE}={position:X}; Max-Age={WRITTEN_SECONDS}; Path=/; "
            "HttpOnly; SameSite=Lax",
        )
