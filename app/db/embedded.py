"""An embedded PostgreSQL server for machines without one (the `pgserver` package).

Its data lives under the configured data folder and survives restarts. The server is shared by
every process of this project that asks for it and stops when the last of them exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

_servers: dict[Path, Any] = {}


def embedded_server_url(data_dir: Path, database: str) -> URL:
    """Start (or join) the embedded server in `data_dir` and return a URL for `database`."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        # Imported here: a real server through DATABASE_URL never needs it.
        from pgserver import get_server  # type: ignore[attr-defined]

    pgdata = (data_dir / "postgres").resolve()
    server = _servers.get(pgdata)
    if server is None:
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
