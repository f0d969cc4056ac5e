"""Property-based run over the whole OpenAPI document: no 5xx, every answer as documented.

It runs against the seed corpus committed to the test database (and removed afterwards), so
that ids and filters meet real rows, through an app whose connections are not pooled: the
runner drives the app from its own event loop.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

import pytest
import rispy
import schemathesis
from hypothesis import HealthCheck, settings
from pybtex.database import parse_string
from schemathesis.checks import positive_data_acceptance
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.models import Base
from app.main import create_app
from app.seeding.loader import load_seed, read_seed
from app.settings import PROJECT_ROOT
from tests.conftest import app_settings, resolve_test_database_url


@pytest.fixture(scope="module")
async def committed_corpus(engine: AsyncEngine) -> AsyncIterator[None]:
    async with AsyncSession(engine) as session, session.begin():
        await load_seed(session, read_seed(PROJECT_ROOT / "seed"))
    yield
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))


# The engine connects only when a request comes, after the test database has been built.
@schemathesis.serializer("application/x-ndjson")
def _ndjson(context: object, value: object) -> bytes:
    # The import body is documented as a string of lines; send what was generated as is.
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


# Exports are documented as text; each must also parse as what it says it is.
@schemathesis.deserializer("text/csv")
def _csv(context: object, response: schemathesis.Response) -> str:
    text = response.content.decode("utf-8")
    widths = {len(row) for row in csv.reader(io.StringIO(text, newline=""))}
    if len(widths) != 1:
        raise ValueError(f"CSV rows of {sorted(widths)} fields")
    return text


@schemathesis.deserializer("application/x-ndjson")
def _ndjson_lines(context: object, response: schemathesis.Response) -> str:
    text = response.content.decode("utf-8")
    for line in text.splitlines():
        if not isinstance(json.loads(line), dict):
            raise ValueError(f"an NDJSON line is not an object: {line[:80]}")
    return text


@schemathesis.deserializer("application/x-bibtex")
def _bibtex(context: object, response: schemathesis.Response) -> str:
    text = response.content.decode("utf-8")
    parse_string(text, "bibtex")
    return text


@schemathesis.deserializer("application/x-research-info-systems")
def _ris(context: object, response: schemathesis.Response) -> str:
    text = response.content.decode("utf-8")
    rispy.loads(text)
    return text


schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(app_settings(resolve_test_database_url()), pooled=False)
)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(
    case: schemathesis.Case, database_url: URL, committed_corpus: None
) -> None:
    # Opaque values (cursors, ids) that match their schema but name nothing are rightly
    # refused (400, 404); every other check applies: no 5xx, status codes, content types,
    # headers and bodies as documented.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
