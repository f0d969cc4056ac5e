"""The package as it is installed: one version, locked dependencies, data files inside it.

The wheel test builds the package, installs it into a new virtual environment, offline, and
runs the installed `testimony` from a folder outside the checkout: the migrations and the seed
must come from the package, not from the checkout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy import text
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from app import DATA_LICENSE, __version__
from app.cli import cli
from app.db import migrations
from app.db.engine import make_engine
from app.main import create_app
from app.seeding.loader import SeedError, read_seed
from app.settings import SEED_DIR, Settings
from tests import CHECKOUT
from tests.conftest import drop_database

PYPROJECT = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))


def pins(lock: Path) -> dict[str, str]:
    """name: version of every `name==version` line of a lock file."""
    pinned = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line:
            name, version = line.split(" ")[0].split(";")[0].split("==")
            pinned.setdefault(canonicalize_name(name), version)
    return pinned


def test_the_locks_pin_every_declared_dependency_within_its_range() -> None:
    runtime = pins(CHECKOUT / "requirements.lock")
    dev = pins(CHECKOUT / "requirements-dev.lock")
    declared = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    extras = PYPROJECT["project"]["optional-dependencies"]
    declared_dev = []
    for line in extras["dev"]:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == canonicalize_name(PYPROJECT["project"]["name"]):
            # The project's own extras, named by `dev`: their requirements are the dev set's.
            declared_dev += [Requirement(r) for extra in requirement.extras for r in extras[extra]]
        else:
            declared_dev.append(requirement)
    for lock, requirements in ((runtime, declared), (dev, declared + declared_dev)):
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in lock, f"{requirement} is not in the lock: run `make lock`"
            assert requirement.specifier.contains(lock[name], prereleases=True), (
                f"the lock pins {name}=={lock[name]}, outside {requirement}: run `make lock`"
            )
    # The tests run with the versions `make run` serves with.
    assert {name: dev[name] for name in runtime} == runtime


def test_one_version_everywhere() -> None:
    settings = Settings(database_url="postgresql://localhost/unused", cursor_secret="unused")
    document = create_app(settings).openapi()
    assert document["info"]["version"] == __version__
    assert document["info"]["license"]["identifier"] == DATA_LICENSE
    printed = CliRunner().invoke(cli, ["--version"])
    assert printed.exit_code == 0
    assert printed.output == f"testimony-api {__version__}\n"
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "app.__version__"}
    changelog = (CHECKOUT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{__version__}]" in changelog
    citation = (CHECKOUT / "CITATION.cff").read_text(encoding="utf-8")
    assert f'\nversion: "{__version__}"\n' in citation


def test_missing_data_files_are_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SeedError, match="holds no seed files"):
        read_seed(tmp_path)
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", tmp_path)
    with pytest.raises(migrations.MigrationsMissingError, match="no migrations in"):
        migrations.head_revision()


def test_an_empty_seed_folder_is_refused_by_the_command(tmp_path: Path, database_url: URL) -> None:
    env = {"DATABASE_URL": database_url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(cli, ["seed", "load", "--dir", str(tmp_path)], env=env)
    assert result.exit_code == 1
    assert "holds no seed files" in result.output


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_installed_wheel_migrates_and_loads_the_seed(tmp_path: Path, database_url: URL) -> None:
    source, dist = tmp_path / "source", tmp_path / "dist"
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # What the Dockerfile copies: the build sees no file of the checkout but these, and leaves
    # nothing in it.
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-data.md"):
        shutil.copy(CHECKOUT / name, source / name)
    shutil.copytree(CHECKOUT / "app", source / "app", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "DATABASE_URL"}}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # Built with this environment's setuptools, and installed without an index.
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), "."],
        source,
        env,
    )
    [wheel] = dist.glob("*.whl")
    assert wheel.name.startswith(f"testimony_api-{__version__}-")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dependencies come from this environment (a path, not a site: its .pth files, the
    # checkout's editable install among them, are not read); the package from the wheel.
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(
        f"{sysconfig.get_paths()['purelib']}\n", encoding="utf-8"
    )
    _run(
        [*pip, "--python", str(python), "install", "--no-index", "--no-deps", str(wheel)],
        CHECKOUT,
        env,
    )
    where = _run([python, "-c", "import app; print(app.__file__)"], elsewhere, env)
    assert where.strip().startswith(purelib), where

    scratch = database_url.set(database=f"{database_url.database}_wheel")
    asyncio.run(drop_database(scratch))
    env["DATABASE_URL"] = scratch.render_as_string(hide_password=False)
    testimony = str(venv / "bin" / "testimony")
    try:
        assert _run([testimony, "--version"], elsewhere, env) == f"testimony-api {__version__}\n"
        _run([testimony, "db", "upgrade"], elsewhere, env)
        loaded = _run([testimony, "seed", "load"], elsewhere, env)
        seed = read_seed(SEED_DIR)
        assert f"claims: {len(seed.claims)} created" in loaded
        assert not (elsewhere / ".data").exists()  # nothing written where it was run

        async def stored() -> tuple[set[str], str | None]:
            engine = make_engine(scratch, pooled=False)
            try:
                async with engine.connect() as connection:
                    ids = set((await connection.scalars(text("SELECT id FROM sources"))).all())
                    head = await connection.scalar(text("SELECT version_num FROM alembic_version"))
                    return ids, head
            finally:
                await engine.dispose()

        sources, head = asyncio.run(stored())
        assert sources == {source.id for source in seed.sources}
        assert head == migrations.head_revision()
    finally:
        asyncio.run(drop_database(scratch))
