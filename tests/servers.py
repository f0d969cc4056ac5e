"""Servers a test or benchmark starts for itself: Redis, a PostgreSQL primary with a streaming
replica, and PgBouncer. Each runs from a temporary folder on free loopback ports, never on a
port of the machine's own services, and is stopped and deleted by `close()`.

The binaries are Debian's (`redis-server`, `pgbouncer`, PostgreSQL 15 in /usr/lib/postgresql);
`missing()` names the one that is not installed, for a test to skip with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from tests.outages import free_port

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
# PostgreSQL and PgBouncer refuse to run as root; as root, they run as this user.
SERVICE_USER = "postgres"
START_SECONDS = 30.0


def missing(*programs: str) -> str | None:
    """The first of `programs` (names on PATH, or paths) that cannot be run, else None."""
    for program in programs:
        if shutil.which(program) is None:
            return program
    return None


def _as_service_user(user: str = SERVICE_USER) -> dict[str, Any]:
    return {"user": user} if os.geteuid() == 0 else {}


def _wait_for(ready: Callable[[], bool], what: str, seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} was not ready within {seconds} s")


def scratch_folder(prefix: str, user: str = SERVICE_USER) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(folder, user)
    return folder


class RedisServer:
    """redis-server on a free port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="testimony-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self._answers, "redis-server")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class PostgresCluster:
    """One PostgreSQL 15 data folder and its server, on a free port (trust authentication)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.pgdata = folder / name
        self.socket_dir = folder
        self.port = free_port()
        self.log = folder / f"{name}.log"

    def url(self, database: str = "postgres") -> URL:
        return URL.create(
            "postgresql+asyncpg",
            username="postgres",
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def run(self, program: str, *arguments: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN / program), *arguments],
            check=True,
            capture_output=True,
            **_as_service_user(),
        )

    def configure(self, settings: dict[str, str]) -> None:
        with (self.pgdata / "postgresql.auto.conf").open("a") as conf:
            for name, value in settings.items():
                conf.write(f"{name} = '{value}'\n")

    def start(self) -> None:
        self.run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            str(int(START_SECONDS)),
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log),
            "-o",
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1",
        )

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, open transactions rolled back."""
        if (self.pgdata / "postmaster.pid").exists():
            self.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))

    def psql(self, sql: str, database: str = "postgres") -> str:
        """One statement's value, through psql (no event loop needed)."""
        answer = subprocess.run(
            [
                str(POSTGRES_BIN / "psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-Atc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            **_as_service_user(),
        )
        return answer.stdout.strip()


class ReplicatedPostgres:
    """A primary and a streaming replica of it, made by pg_basebackup."""

    def __init__(self) -> None:
        self.folder = scratch_folder("testimony-replication-")
        self.primary = PostgresCluster(self.folder, "primary")
        self.replica = PostgresCluster(self.folder, "replica")
        try:
            self.primary.run(
                "initdb", "-D", str(self.primary.pgdata), "-U", "postgres", "--auth=trust"
            )
            self.primary.configure({"wal_level": "replica", "max_wal_senders": "4", "fsync": "off"})
            with (self.primary.pgdata / "pg_hba.conf").open("a") as hba:
                hba.write("host replication all 127.0.0.1/32 trust\n")
            self.primary.start()
            self.primary.run(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.replica.pgdata),
                "-R",  # standby.signal and primary_conninfo: start as a streaming replica
                "-X",
                "stream",
            )
            self.replica.start()
        except BaseException:
            self.close()
            raise

    def wait_replayed(self, seconds: float = START_SECONDS) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        target = self.primary.psql("SELECT pg_current_wal_lsn()")
        _wait_for(
            lambda: self.replica.psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'") == "t",
            "the replica's replay",
            seconds,
        )

    def pause_replay(self) -> None:
        self.replica.psql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.replica.psql("SELECT pg_wal_replay_resume()")

    def close(self) -> None:
        for cluster in (self.replica, self.primary):
            with contextlib.suppress(subprocess.CalledProcessError):  # it did not start
                cluster.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class PgBouncer:
    """PgBouncer in transaction mode on a free port, in front of `database` on `server`."""

    def __init__(self, server: URL, database: str, pool_size: int = 2) -> None:
        host = server.host or str(server.query.get("host", ""))
        # A server reached through its socket (the embedded one) is reached as the user who
        # may open that socket's folder.
        user = Path(host).owner() if host.startswith("/") else SERVICE_USER
        self.folder = scratch_folder("testimony-pgbouncer-", user)
        self.port = free_port()
        self.database = database
        target = f"host={host} dbname={database} user={server.username or 'postgres'}"
        if server.port:
            target += f" port={server.port}"
        (self.folder / "users.txt").write_text(f'"{server.username or "postgres"}" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{database} = {target}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.folder}\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            # Fewer server connections than the app's pool: clients share them.
            f"default_pool_size = {pool_size}\n"
            "max_client_conn = 100\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\n"
            f"pidfile = {self.folder / 'pgbouncer.pid'}\n"
        )
        if os.geteuid() == 0:
            for path in self.folder.iterdir():
                shutil.chown(path, user)
        self.process = subprocess.Popen(
            ["pgbouncer", str(self.folder / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **_as_service_user(user),
        )
        _wait_for(self._listening, "pgbouncer")

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited:\n{self.log()}")
        return f"listening on 127.0.0.1:{self.port}" in self.log()

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self) -> URL:
        return URL.create(
            "postgresql+asyncpg",
            username="postgres",
            host="127.0.0.1",
            port=self.port,
            database=self.database,
        )

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)
