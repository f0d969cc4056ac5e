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
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.main import create_app
from app.models import Base
from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from tests.conftest import app_settings, resolve_test_database_url


@pytest.fixture(scope="module")
async def committed_corpus(engine: AsyncEngine) -> AsyncIterator[None]:
    async with AsyncSession(engine) as session, session.begin():
        await load_seed(session, read_seed(SEED_DIR))
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


# Every check runs. What each accepts as a refusal adds what the document declares and no
# schema can express: a cursor this API did not issue (400, for any string is a cursor by its
# schema), the size limits of a URL, headers and body (413, 414, 431), and If-Match, which the
# document requires and whose absence is a 428.
LIMITS = ["413", "414", "431"]
ACCEPTED = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", *LIMITS]
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", *LIMITS]
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ACCEPTED},
            "negative_data_rejection": {"expected-statuses": REFUSED},
            "missing_required_header": {
                "expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]
            },
        }
    }
)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(app_settings(resolve_test_database_url()), pooled=False),
    config=CONFIG,
)


# Deterministic: the examples derive from the test itself, not from a random seed or from
# examples stored by earlier runs, so the same code always gets the same verdict.
@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_every_operation_conforms_to_the_document(
    case: schemathesis.Case, database_url: URL, committed_corpus: None
) -> None:
    # All checks: no 5xx; status codes, content types, headers and bodies as documented;
    # valid data accepted and invalid data refused.
    case.call_and_validate()
