"""The shell examples of README.md and docs/: found, run against a real server, compared, and
refreshed.

An example is a fenced ``console`` block, as a terminal shows it::

    ```console
    $ curl -s http://127.0.0.1:8000/healthz
    {"status":"ok"}
    ```

A line starting with ``$ `` is a command, the lines after it starting with ``> `` continue it
(a here-document, a long pipeline), and the lines up to the next command are what it prints,
standard error included. Blank lines at the end of an output only separate examples.

Each page is one shell session, run from the top: variables set by one command (``KEY=$(...)``)
are there for the next, as they would be for a reader following the page. It runs in a scratch
folder standing for the project's checkout (``.venv/bin/testimony``, ``docs/`` and ``app/seed/`` are
there), against ``testimony serve`` on a free port, on a database freshly copied from one with
the seed loaded, in a PostgreSQL of its own. ``127.0.0.1:8000`` in commands and outputs stands
for that server.

A block that is not to be run is marked by an HTML comment on the line before it,
``<!-- not-run: why -->``; a block showing commands without their output is ``sh``, and holds no
``$`` prompt. What changes from run to run is replaced on both sides before comparing: see
NORMALISATIONS.

    python -m tests.docs_examples            # run every page, report the differences
    python -m tests.docs_examples --update   # write what the commands print into the pages
    python -m tests.docs_examples --update docs/writing.md
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests import CHECKOUT
from tests.outages import TESTIMONY, ServedApi
from tests.servers import POSTGRES_BIN, PostgresCluster, scratch_folder

DOCUMENTED_ADDRESS = "127.0.0.1:8000"
PROMPT = "$ "
CONTINUATION = "> "
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>\S.*?)\s*-->$")
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[\w+-]*)\s*$")
SHELL_LANGUAGES = {"sh", "bash", "shell", "zsh"}
PAGE_SECONDS = 600


@dataclass(frozen=True)
class Normalisation:
    """What varies from run to run, replaced by a placeholder in expected and actual output."""

    what: str
    pattern: re.Pattern[str]
    placeholder: str

    def apply(self, output: str) -> str:
        return self.pattern.sub(self.placeholder, output)


def _normalisation(what: str, pattern: str, placeholder: str) -> Normalisation:
    return Normalisation(what, re.compile(pattern, re.MULTILINE), placeholder)


HEX64 = "[0-9a-f]{64}"
NORMALISATIONS: tuple[Normalisation, ...] = (
    _normalisation(
        "timestamps",
        r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?\b",
        "<timestamp>",
    ),
    _normalisation("compact UTC times (default release versions)", r"\b\d{8}T\d{6}Z\b", "<time>"),
    _normalisation("the Date header", r"^date: .*$", "date: <date>"),
    _normalisation(
        "the day a record was read (cite_as)",
        r"(accessed |\"accessed\":\s*\")\d{4}-\d\d-\d\d",
        r"\1<today>",
    ),
    _normalisation(
        "the day a record was read, the last cell of a CSV line (cite_as.accessed)",
        r",\d{4}-\d\d-\d\d(\r?)$",
        r",<today>\1",
    ),
    _normalisation("API key ids", r"\bkey-[a-z0-9]{12}\b", "key-<id>"),
    _normalisation("audit event ids", r"\bevt-\d{20}-[0-9a-f]{8}\b", "evt-<id>"),
    _normalisation("seconds left in a rate-limit window", r"(ratelimit: .*;t=)\d+", r"\1<s>"),
    # A moving window: how many requests remain depends on how long the page's examples took.
    _normalisation("requests left in a rate-limit window", r'(ratelimit: "\w+";r=)\d+', r"\1<n>"),
    _normalisation(
        "the day in an export's file name", r"(filename=\"\w+-)\d{4}-\d\d-\d\d", r"\1<today>"
    ),
    _normalisation("API keys", r"\btk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", "tk_<key>"),
    _normalisation("request ids", r"\b[0-9a-f]{32}\b", "<request-id>"),
    _normalisation(
        "cursors",
        r"((?:cursor|after)=|\"next_cursor\":\s*\")[A-Za-z0-9_-]{16,}",
        r"\1<cursor>",
    ),
    _normalisation("durations", r"(\"duration_ms\":\s*)[\d.]+|\b[\d.]+ ms\b", r"\1<ms>"),
    _normalisation(
        "digests of stored views in ETags (their bodies hold timestamps)",
        r"(\"\d+-(?:public|restricted|confidential)-)[0-9a-f]{12}\"",
        r'\1<digest>"',
    ),
    _normalisation(
        "digests of release files, which hold the day they were read",
        rf"(\"sha256\":\s*\"|SHA-256 |the manifest says ){HEX64}",
        r"\1<sha256>",
    ),
)


def normalise(lines: Sequence[str]) -> str:
    output = "\n".join(lines)
    for normalisation in NORMALISATIONS:
        output = normalisation.apply(output)
    return output


@dataclass
class Example:
    """One command and the output shown under it."""

    page: Path
    line: int  # of its `$` line, counted from 1
    command: str
    expected: list[str]
    output_start: int  # index of the first output line in the page's lines
    actual: list[str] | None = None

    @property
    def matches(self) -> bool:
        return self.actual is not None and normalise(self.actual) == normalise(self.expected)

    def difference(self) -> str:
        diff = difflib.unified_diff(
            normalise(self.expected).splitlines(),
            normalise(self.actual or []).splitlines(),
            "shown",
            "printed",
            lineterm="",
        )
        return f"{self.page.name}:{self.line}: $ {self.command}\n" + "\n".join(diff)


@dataclass
class Page:
    path: Path
    lines: list[str]
    examples: list[Example] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.relative_to(CHECKOUT).as_posix()


def pages() -> list[Path]:
    """The README and every page of the documentation site."""
    return [CHECKOUT / "README.md", *sorted((CHECKOUT / "docs").rglob("*.md"))]


def parse(path: Path) -> Page:
    page = Page(path, path.read_text(encoding="utf-8").split("\n"))
    lines = page.lines
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != opening["fence"]:
            end += 1
        language = opening["info"].lower()
        marked = index > 0 and NOT_RUN.match(lines[index - 1].strip())
        body = range(index + 1, end)
        if language == "console" and not marked:
            page.examples.extend(_examples(page, body))
        elif language in SHELL_LANGUAGES and any(lines[i].startswith(PROMPT) for i in body):
            page.problems.append(
                f"{page.name}:{index + 1}: a {language} block with `$` prompts is an example:"
                " make it a console block, or mark it <!-- not-run: why -->"
            )
        index = end + 1
    return page


def _examples(page: Page, body: range) -> Iterator[Example]:
    lines = page.lines
    index = body.start
    while index < body.stop:
        if not lines[index].startswith(PROMPT):
            if lines[index].strip():
                page.problems.append(
                    f"{page.name}:{index + 1}: output before the first command of the block"
                )
            index += 1
            continue
        line = index + 1
        command = [lines[index][len(PROMPT) :]]
        index += 1
        while index < body.stop and lines[index].startswith(CONTINUATION):
            command.append(lines[index][len(CONTINUATION) :])
            index += 1
        output_start = index
        while index < body.stop and not lines[index].startswith(PROMPT):
            index += 1
        expected = [text.rstrip() for text in lines[output_start:index]]
        while expected and not expected[-1]:
            expected.pop()
        yield Example(page.path, line, "\n".join(command), expected, output_start)


@dataclass(frozen=True)
class Template:
    """A database migrated to head with the seed loaded, copied for each page."""

    url: URL


async def _administer(url: URL, *statements: str) -> None:
    engine = create_async_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cli_environment(url: URL, folder: Path) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "DATA_DIR": str(folder),
        "PYTHONPATH": str(CHECKOUT),
    }


@contextmanager
def private_postgres() -> Iterator[URL]:
    """A PostgreSQL of the examples' own: the change feed waits for the oldest transaction
    running on its server, which on a shared one may be anybody's."""
    folder = scratch_folder("testimony-docs-postgres-")
    cluster = PostgresCluster(folder, "docs")
    try:
        cluster.run("initdb", "-D", str(cluster.pgdata), "-U", "postgres", "--auth=trust")
        cluster.configure({"fsync": "off", "synchronous_commit": "off"})
        cluster.start()
        yield cluster.url("testimony_docs")
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def postgres_missing() -> str | None:
    initdb = POSTGRES_BIN / "initdb"
    return None if initdb.exists() else f"{initdb} is not installed"


@contextmanager
def seeded_template(base: URL) -> Iterator[Template]:
    """Builds the template next to `base` (the tests' database) and drops it afterwards."""
    url = base.set(database=f"{base.database}_docs")
    drop = f"DROP DATABASE IF EXISTS {_quoted(url.database or '')} WITH (FORCE)"
    asyncio.run(_administer(url, drop))
    with tempfile.TemporaryDirectory(prefix="testimony-docs-") as folder:
        environment = _cli_environment(url, Path(folder))
        for command in (("db", "upgrade"), ("seed", "load")):
            subprocess.run(
                [*TESTIMONY, *command],
                env=environment,
                cwd=CHECKOUT,
                check=True,
                capture_output=True,
            )
    try:
        yield Template(url)
    finally:
        asyncio.run(_administer(url, drop))


@contextmanager
def page_database(template: Template, number: int) -> Iterator[URL]:
    url = template.url.set(database=f"{template.url.database}_{number}")
    name = _quoted(url.database or "")
    asyncio.run(
        _administer(
            url,
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            f"CREATE DATABASE {name} TEMPLATE {_quoted(template.url.database or '')}",
        )
    )
    try:
        yield url
    finally:
        asyncio.run(_administer(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _checkout(folder: Path) -> None:
    """What the commands of the docs expect to find in the project's folder. The `testimony`
    command is this checkout's (the installed script may be another's)."""
    bin_folder = folder / ".venv" / "bin"
    bin_folder.mkdir(parents=True)
    (bin_folder / "python").symlink_to(sys.executable)
    testimony = bin_folder / "testimony"
    program = " ".join(f"'{part}'" for part in TESTIMONY)
    testimony.write_text(f'#!/bin/sh\nPYTHONPATH="{CHECKOUT}" exec {program} "$@"\n')
    testimony.chmod(0o755)
    # Tools of the development set the docs show (their scripts name this interpreter).
    for tool in ("frictionless",):
        (bin_folder / tool).symlink_to(Path(sys.executable).parent / tool)
    (folder / "docs").symlink_to(CHECKOUT / "docs")
    # A copy, for examples that make a broken one from it.
    shutil.copytree(CHECKOUT / "app" / "seed", folder / "app" / "seed")


def _search_path() -> str:
    """PATH without this interpreter's folder: the docs call `.venv/bin/...` by its path."""
    own = str(Path(sys.executable).parent)
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(folder for folder in folders if folder != own)


def run(page: Page, template: Template, number: int = 0) -> None:
    """Run the page's examples in order, in one shell, and keep what each printed."""
    if not page.examples:
        return
    with (
        tempfile.TemporaryDirectory(prefix="testimony-docs-page-") as scratch,
        page_database(template, number) as url,
    ):
        folder = Path(scratch)
        checkout = folder / "checkout"
        checkout.mkdir()
        _checkout(checkout)
        server = ServedApi(
            url,
            folder,
            rate_limit_anonymous="120/minute",
            rate_limit_key="1200/minute",
            log_format="text",
        )
        try:
            asyncio.run(server.wait_ready())
            printed = _session(page.examples, checkout, url, server.port)
        finally:
            server.terminate()
    served = f"127.0.0.1:{server.port}"
    for example, output in zip(page.examples, printed, strict=True):
        # As an interactive shell words its errors, without the script's name and line.
        output = re.sub(r"^\S*session\.sh: line \d+: ", "bash: ", output, flags=re.MULTILINE)
        lines = output.replace(served, DOCUMENTED_ADDRESS).rstrip("\n").split("\n")
        example.actual = [line.rstrip() for line in lines] if output.strip() else []


def _session(examples: Sequence[Example], folder: Path, url: URL, port: int) -> list[str]:
    marker = f"docs-example-{secrets.token_hex(8)}"
    script = ["exec 2>&1"]
    for number, example in enumerate(examples):
        script.append(f"printf '\\n{marker} {number}\\n'")
        script.append(example.command.replace(DOCUMENTED_ADDRESS, f"127.0.0.1:{port}"))
    script.append(f"printf '\\n{marker} end\\n'")
    (folder.parent / "session.sh").write_text("\n".join(script) + "\n")
    environment = {
        "PATH": _search_path(),
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "DATA_DIR": str(folder / ".data"),
        "CURSOR_SECRET": "outage-cursor-secret",
    }
    finished = subprocess.run(
        ["bash", str(folder.parent / "session.sh")],
        cwd=folder,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        timeout=PAGE_SECONDS,
        check=False,
    )
    parts = re.split(rf"\n{marker} (?:\d+|end)\n", finished.stdout.decode(errors="replace"))
    # Before the first marker: nothing; after the last: nothing.
    return parts[1:-1]


def update(page: Page) -> int:
    """Write what was printed under each command whose output differs; the number changed."""
    changed = [example for example in page.examples if not example.matches]
    lines = list(page.lines)
    for example in sorted(changed, key=lambda example: example.line, reverse=True):
        stop = example.output_start + len(example.expected)
        lines[example.output_start : stop] = example.actual or []
    if changed:
        page.path.write_text("\n".join(lines), encoding="utf-8")
    return len(changed)


def main(arguments: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.docs_examples", description=__doc__)
    parser.add_argument("--update", action="store_true", help="write the outputs into the pages")
    parser.add_argument("pages", nargs="*", type=Path, help="default: README.md and docs/")
    options = parser.parse_args(arguments)
    paths = [path.resolve() for path in options.pages] or pages()
    failed = 0
    with private_postgres() as base, seeded_template(base) as template:
        for number, path in enumerate(paths):
            page = parse(path)
            for problem in page.problems:
                print(problem)
            run(page, template, number)
            different = [example for example in page.examples if not example.matches]
            if options.update:
                print(f"{page.name}: {update(page)} of {len(page.examples)} outputs rewritten")
            else:
                for example in different:
                    print(example.difference(), end="\n\n")
                print(f"{page.name}: {len(page.examples) - len(different)} of", end=" ")
                print(f"{len(page.examples)} examples print what they show")
                failed += len(different) + len(page.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
