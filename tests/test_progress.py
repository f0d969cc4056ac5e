"""Long commands tell how far they got: a callback from the core, bars only on a terminal."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.changes.imports import command_line, run_import
from app.db import migrations
from app.kit.protection import ProtectionLevel
from app.releases import create_release
from app.rendering.indexing import reindex_all
from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from tests import CHECKOUT, factories
from tests.conftest import SavepointSessions, drop_database

Call = tuple[str, int, int | None]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.calls.append((stage, done, total))

    def last(self) -> dict[str, tuple[int, int | None]]:
        """Each stage's last report."""
        return {stage: (done, total) for stage, done, total in self.calls}


async def test_a_seed_load_reports_each_kind_written_and_indexed(session: AsyncSession) -> None:
    progress = Recorder()
    seed = read_seed(SEED_DIR)
    await load_seed(session, seed, progress=progress)
    last = progress.last()
    for kind, items in seed.by_kind().items():
        assert last[f"writing {kind}"] == (len(items), len(items))
        assert last[f"rendering {kind}"] == (len(items), len(items))
    # Counted as it goes, not once at the end.
    claims = [done for stage, done, _ in progress.calls if stage == "writing claims"]
    assert claims == list(range(1, len(seed.claims) + 1))


async def test_an_import_reports_its_lines_and_a_reindex_its_records(
    session: AsyncSession,
) -> None:
    lines = [
        {"type": "organization", "record": {"id": f"org-{n}", "name": f"Org {n}", "kind": "ngo"}}
        for n in range(3)
    ]
    raw = "\n".join(json.dumps(line) for line in lines).encode()
    progress = Recorder()
    await run_import(session, raw, command_line("import"), dry_run=False, progress=progress)
    assert [c for c in progress.calls if c[0] == "writing records"] == [
        ("writing records", 1, 3),
        ("writing records", 2, 3),
        ("writing records", 3, 3),
    ]
    assert progress.last()["rendering organizations"] == (3, 3)
    progress = Recorder()
    await reindex_all(session, "organizations", progress)
    assert progress.last() == {"rendering organizations": (3, 3)}


async def test_a_release_counts_the_records_of_each_file(
    session: AsyncSession, tmp_path: Path
) -> None:
    for n in range(2):
        await factories.organization(session, id=f"org-{n}")
    progress = Recorder()
    await create_release(
        SavepointSessions(session),
        tmp_path / "release",
        tier=ProtectionLevel.public,
        version="test-1",
        base_url="http://testserver",
        expected_revision=migrations.head_revision(),
        now=datetime.now(UTC),
        progress=progress,
    )
    # Both files of a type, its NDJSON and its CSV, are written in one stage.
    assert progress.last()["writing organizations"] == (2, None)


def _environment(url: URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return env | {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "PYTHONPATH": str(CHECKOUT),
        "TERM": "xterm-256color",
        "CURSOR_SECRET": "progress-test",
    }


TESTIMONY = [sys.executable, "-c", "from app.cli import main; main()"]


def _quietly(command: list[str], env: dict[str, str]) -> str:
    """Runs the command with its output read through pipes; returns its stderr, which holds
    its report and no drawing."""
    done = subprocess.run(
        [*TESTIMONY, *command], cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for output in (done.stdout, done.stderr):
        assert "\x1b[" not in output, (command, output)
        assert "writing " not in output, (command, output)
        assert "rendering " not in output, (command, output)
    return done.stderr


def _on_a_terminal(command: list[str], env: dict[str, str]) -> str:
    """Runs the command with a pseudo-terminal as its output; returns what it drew."""
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [*TESTIMONY, *command],
        cwd=CHECKOUT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    drawn = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the command
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    assert child.wait(timeout=300) == 0
    reader.join(timeout=30)
    os.close(controller)
    return drawn.decode(errors="replace")


def test_commands_draw_progress_on_a_terminal_and_nothing_into_a_pipe(
    tmp_path: Path, database_url: URL
) -> None:
    scratch = database_url.set(database=f"{database_url.database}_progress")
    asyncio.run(drop_database(scratch))
    env = _environment(scratch)
    imported = tmp_path / "records.ndjson"
    imported.write_text(
        json.dumps({"type": "organization", "record": {"id": "x", "name": "X", "kind": "ngo"}}),
        encoding="utf-8",
    )
    try:
        _quietly(["db", "upgrade"], env)
        screen = _on_a_terminal(["seed", "load"], env)
        assert "writing claims" in screen
        assert "\x1b[" in screen
        assert "claims: 43 created" in screen
        assert "claims: 0 created" in _quietly(["seed", "load"], env)
        _quietly(["import", str(imported)], env)
        assert "wrote" in _quietly(["search", "reindex"], env)
        assert "written to" in _quietly(["export", "release", str(tmp_path / "release")], env)
    finally:
        asyncio.run(drop_database(scratch))
