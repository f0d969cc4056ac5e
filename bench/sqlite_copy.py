"""The claims an anonymous client may list, copied from PostgreSQL into SQLite for Datasette,
with the indexes a Datasette publisher would add for the filters and sorts used, and an FTS5
table over the words (which Datasette finds by its `content=` and serves as `?_search=`).

Protected claims are copied as the public sees them exist (confidential ones and retracted
ones left out), without the reasons for their protection; the coarsening the API applies to
restricted ones (years for dates, decades for ages) is not reproduced.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, literal_column, select

from app.claims.models import Claim
from app.claims.schemas import ClaimQuery
from bench.minimal_app import claims_where, compiled

COLUMNS = {
    "id": "TEXT PRIMARY KEY",
    "statement": "TEXT",
    "fact": "TEXT",
    "metric": "TEXT",
    "value": "NUMERIC",
    "value_min": "NUMERIC",
    "value_max": "NUMERIC",
    "unit": "TEXT",
    "approximation": "TEXT",
    "period_start": "TEXT",
    "period_start_precision": "TEXT",
    "period_end": "TEXT",
    "period_end_precision": "TEXT",
    "claimant_organization_id": "TEXT",
    "claimant_testimony_id": "TEXT",
    "stance": "TEXT",
    "about_facility_id": "TEXT",
    "about_testimony_id": "TEXT",
    "about_organization_id": "TEXT",
    "source_id": "TEXT",
    "quote": "TEXT",
    "char_start": "INTEGER",
    "char_end": "INTEGER",
    "notes": "TEXT",
    "protection_level": "TEXT",
    "claimant_level": "TEXT",
    "status": "TEXT",
    "created_at": "TEXT",
    "updated_at": "TEXT",
}
INDEXED = ("metric", "unit", "stance", "value_min", "value_max", "about_facility_id", "fact")
BATCH = 5000


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def public_claims_sql() -> str:
    """The claims the project lists to an anonymous client, in id order."""
    query = ClaimQuery()
    columns: list[ColumnElement[Any]] = [literal_column(f"claims.{name}") for name in COLUMNS]
    return compiled(select(*columns).where(*claims_where(query)).order_by(Claim.id))


def _create(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    target = sqlite3.connect(path)
    target.execute(f"CREATE TABLE claims ({', '.join(f'{n} {t}' for n, t in COLUMNS.items())})")
    return target


async def copy_claims(dsn: str, path: Path) -> int:
    """Write the SQLite database at `path`; returns the number of claims copied."""
    names = ", ".join(COLUMNS)
    target = _create(path)
    try:
        insert = f"INSERT INTO claims ({names}) VALUES ({', '.join('?' * len(COLUMNS))})"
        connection = await asyncpg.connect(dsn)
        copied = 0
        try:
            async with connection.transaction():
                batch: list[tuple[Any, ...]] = []
                async for row in connection.cursor(public_claims_sql(), prefetch=BATCH):
                    batch.append(tuple(_plain(value) for value in row.values()))
                    if len(batch) == BATCH:
                        target.executemany(insert, batch)
                        copied += len(batch)
                        batch.clear()
                target.executemany(insert, batch)
                copied += len(batch)
        finally:
            await connection.close()
        for column in INDEXED:
            target.execute(f"CREATE INDEX claims_{column} ON claims ({column})")
        target.execute(
            'CREATE VIRTUAL TABLE claims_fts USING fts5(statement, quote, content="claims")'
        )
        target.execute(
            "INSERT INTO claims_fts (rowid, statement, quote) "
            "SELECT rowid, statement, quote FROM claims"
        )
        target.execute("ANALYZE")
        target.commit()
    finally:
        target.close()
    return copied
