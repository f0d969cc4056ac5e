"""Every shell example of README.md and docs/ prints what it shows (tests/docs_examples.py says
how they are written, run and compared). A drifted one fails here; refresh the outputs with
`.venv/bin/python -m tests.docs_examples --update`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import CHECKOUT, docs_examples

PAGES = [path for path in docs_examples.pages() if docs_examples.parse(path).examples]


@pytest.fixture(scope="module")
def template() -> Iterator[docs_examples.Template]:
    missing = docs_examples.postgres_missing()
    if missing:
        pytest.skip(missing)
    with docs_examples.private_postgres() as base, docs_examples.seeded_template(base) as template:
        yield template


def test_every_shell_block_is_run_or_shows_no_output() -> None:
    problems = [
        problem for path in docs_examples.pages() for problem in docs_examples.parse(path).problems
    ]
    assert not problems, "\n".join(problems)


def test_the_readme_and_the_site_have_examples() -> None:
    assert CHECKOUT / "README.md" in PAGES
    assert len(PAGES) > 5


@pytest.mark.parametrize(
    "path", PAGES, ids=[path.relative_to(CHECKOUT).as_posix() for path in PAGES]
)
def test_examples_print_what_they_show(path: Path, template: docs_examples.Template) -> None:
    page = docs_examples.parse(path)
    docs_examples.run(page, template, PAGES.index(path))
    drifted = [example.difference() for example in page.examples if not example.matches]
    assert not drifted, (
        f"{len(drifted)} of {len(page.examples)} examples of {page.name} print something else"
        " (refresh: .venv/bin/python -m tests.docs_examples --update):\n\n" + "\n\n".join(drifted)
    )


def test_normalisations_leave_the_corpus_alone() -> None:
    """Seed dates and digests of archived texts are data, compared as they are."""
    shown = [
        '"published": "2021-05-28"',
        '"archive_sha256": "5859d1b6fb339b0011e82bdc9683c054a2ffe9939e6c7e4334fe88771f2addf3"',
        '"value": 700',
    ]
    assert docs_examples.normalise(shown) == "\n".join(shown)
