"""Run Alembic programmatically against a given database.

The migrations ship inside the package (app/migrations), so an installed `testimony` applies
them as a checkout does. `[tool.alembic]` in pyproject.toml points the `alembic` command of a
checkout at the same folder, for writing new revisions.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

MIGRATIONS_DIR = Path(str(files("app").joinpath("migrations")))


class MigrationsMissingError(RuntimeError):
    """The package was installed without its migrations."""


def alembic_config(url: URL | None = None) -> Config:
    if not (MIGRATIONS_DIR / "env.py").is_file() or not any(
        (MIGRATIONS_DIR / "versions").glob("*.py")
    ):
        raise MigrationsMissingError(
            f"no migrations in {MIGRATIONS_DIR}: the package was installed without its data "
            "files; reinstall it from a wheel or a checkout"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        # Passed as an attribute: a URL in the ini options would need %-escaping.
        config.attributes["database_url"] = url
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(url: URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: URL, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
