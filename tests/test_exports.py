"""Exports: every record a list matches, as CSV, NDJSON, GeoJSON or a citation set, with the
JSON list's filters, sort and protection, read back with real parsers."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geojson
import httpx
import openpyxl
import pytest
import rispy
from fastapi import FastAPI
from pybtex.database import parse_string
from sqlalchemy import select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.audit.models import AuditEvent
from app.auth.dependencies import Viewer
from app.auth.scopes import Principal
from app.claims.schemas import Claim
from app.exports import exporter as exports
from app.kit.citing import Citer
from app.kit.pagination import Cursors
from app.kit.spreadsheets import MEDIA_TYPE as XLSX_MEDIA_TYPE
from app.kit.tables import Cell, table_columns
from app.main import create_app
from app.organizations import router as organizations_router
from app.organizations.schemas import OrganizationQuery
from app.rendering.indexing import index_missing, index_pending
from app.testimonies import schemas as testimony_schemas
from tests import factories
from tests.conftest import app_settings

LISTS = ["/v1/organizations", "/v1/sources", "/v1/facilities", "/v1/testimonies", "/v1/claims"]
TEXT = "Kim said: I was sent to the mine in 1987. Park said: the guards beat us every night."


async def walk(client: httpx.AsyncClient, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every record of a JSON list, page by page."""
    records: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url, **kwargs)
        assert response.status_code == 200, response.text
        records += response.json()["data"]
        next_url = response.json()["links"]["next"]
    return records


def ndjson_records(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


def xlsx_cells(response: httpx.Response) -> tuple[list[str], list[list[Cell]]]:
    """The header and the rows of an XLSX export's one worksheet, as openpyxl reads them."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    (sheet,) = workbook.worksheets
    header, *rows = sheet.iter_rows()
    return [str(cell.value) for cell in header], [
        [f"'{cell.value}" if cell.quotePrefix else cell.value for cell in row] for row in rows
    ]


def sheet_folders() -> set[Path]:
    """The XLSX writer's temporary folders."""
    return set(Path(tempfile.gettempdir()).glob("sheet-*"))


def as_csv_text(value: Cell) -> str:
    """A typed cell as the CSV export writes it (a quote-prefixed text with its apostrophe)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def many_claims(session: AsyncSession, count: int) -> None:
    """`count` claims in one statement (more than a batch, quickly)."""
    organization = await factories.organization(session, id="bulk-org")
    source = await factories.source(session, id="bulk-source")
    await session.execute(
        text(
            """
            INSERT INTO claims (id, statement, metric, value, value_min, value_max, unit,
                                approximation, claimant_organization_id, stance, source_id, quote)
            SELECT 'bulk-' || lpad(n::text, 5, '0'), 'Generated claim ' || n || '.',
                   CASE WHEN n % 3 = 0 THEN 'deaths' ELSE 'persons_count' END,
                   n, n, n, 'persons', 'exact', :organization, 'asserts', :source, 'generated'
            FROM generate_series(1, :count) AS n
            """
        ),
        {"organization": organization.id, "source": source.id, "count": count},
    )
    await index_missing(session)  # rendered as `testimony db upgrade` renders rows put in by SQL


async def test_an_export_holds_every_page_beyond_one_batch(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    count = exports.BATCH_SIZE * 2 + 34
    await many_claims(session, count)
    listed = await walk(client, "/v1/claims?limit=200")
    assert len(listed) == count

    records = ndjson_records(await client.get("/v1/claims?format=ndjson"))
    assert records == listed  # the same objects, in the same order

    rows = csv_rows(await client.get("/v1/claims?format=csv"))
    assert [row["id"] for row in rows] == [r["id"] for r in listed]
    assert rows[0]["value"] == "1"
    assert rows[0]["claimant.id"] == "bulk-org"


async def test_filters_sort_and_cursor_are_those_of_the_json_list(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await many_claims(session, 40)
    url = "/v1/claims?metric=deaths&value_min=10&sort=-value"
    listed = await walk(client, url + "&limit=3")
    assert [r["id"] for r in listed] == [f"bulk-{n:05d}" for n in range(39, 9, -3)]
    assert ndjson_records(await client.get(url + "&format=ndjson")) == listed
    assert [row["id"] for row in csv_rows(await client.get(url + "&format=csv"))] == [
        r["id"] for r in listed
    ]

    # A JSON page's cursor goes on in an export, and an export's query pages as JSON.
    first = (await client.get(url + "&limit=4")).json()
    rest = await client.get(url + f"&format=ndjson&cursor={first['page']['next_cursor']}")
    assert [r["id"] for r in first["data"] + ndjson_records(rest)] == [r["id"] for r in listed]

    # Counts and facets are not part of an export; search is.
    counted = await client.get(url + "&format=ndjson&count=true&facet=metric")
    assert ndjson_records(counted) == listed
    searched = await client.get("/v1/claims?q=generated&format=ndjson")
    assert ndjson_records(searched) == await walk(client, "/v1/claims?q=generated")


@pytest.mark.parametrize(
    ("export", "format"),
    [
        ("/v1/claims.csv", "csv"),
        ("/v1/claims.ndjson", "ndjson"),
        ("/v1/facilities.geojson", "geojson"),
        ("/v1/sources.csl.json", "csl-json"),
        ("/v1/sources.bib", "bibtex"),
        ("/v1/sources.ris", "ris"),
    ],
)
async def test_each_export_has_a_path_of_its_own(
    client: httpx.AsyncClient, session: AsyncSession, export: str, format: str
) -> None:
    await many_claims(session, 3)
    await factories.facility(session, id="kaechon")
    await factories.source(session, id="blood-coal", title="Blood Coal Export")
    listed = export.split(".", 1)[0]
    own = await client.get(f"{export}?sort=-id")
    asked = await client.get(f"{listed}?sort=-id&format={format}")
    assert own.status_code == 200, own.text
    assert own.headers["content-type"] == asked.headers["content-type"]
    assert own.headers["content-disposition"] == asked.headers["content-disposition"]
    assert own.text == asked.text
    assert own.text.strip()
    refused = await client.get(f"{export}?format={format}")
    assert refused.status_code == 400  # the path says the format already


async def test_accept_negotiates_and_format_wins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.organization(session, id="kcna")
    csv_response = await client.get("/v1/organizations", headers={"Accept": "text/csv"})
    assert [row["id"] for row in csv_rows(csv_response)] == ["kcna"]
    assert "Accept" in csv_response.headers["vary"].split(", ")
    day = csv_response.headers["content-disposition"].split('"')[1][len("organizations-") : -4]
    assert csv_response.headers["content-disposition"] == (
        f'attachment; filename="organizations-{day}.csv"'
    )

    ndjson = await client.get("/v1/organizations", headers={"Accept": "application/x-ndjson"})
    assert [r["id"] for r in ndjson_records(ndjson)] == ["kcna"]
    assert ndjson.headers["content-disposition"].endswith('.ndjson"')

    preferred = await client.get(
        "/v1/organizations", headers={"Accept": "text/csv;q=0.5, application/x-ndjson"}
    )
    assert preferred.headers["content-type"] == "application/x-ndjson"

    for accept in ["application/json", "text/html,*/*;q=0.8", "image/png"]:
        page = await client.get("/v1/organizations", headers={"Accept": accept})
        assert page.headers["content-type"] == "application/json"
        assert page.json()["data"][0]["id"] == "kcna"
        assert "Accept" in page.headers["vary"].split(", ")

    wins = await client.get("/v1/organizations?format=json", headers={"Accept": "text/csv"})
    assert wins.headers["content-type"] == "application/json"
    wins = await client.get("/v1/organizations?format=ndjson", headers={"Accept": "text/csv"})
    assert wins.headers["content-type"] == "application/x-ndjson"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/claims", "'json', 'csv', 'ndjson' or 'xlsx'"),
        ("/v1/facilities", "'json', 'csv', 'ndjson', 'xlsx' or 'geojson'"),
        ("/v1/sources", "'json', 'csv', 'ndjson', 'xlsx', 'csl-json', 'bibtex' or 'ris'"),
    ],
)
async def test_an_unknown_format_is_a_422_naming_the_allowed_ones(
    client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    response = await client.get(f"{path}?format=parquet")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["name"] == "format"
    assert allowed in problem["errors"][0]["message"]


async def test_a_geojson_format_is_only_for_facilities(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/claims?format=geojson")
    assert response.status_code == 422


async def test_bad_input_is_a_problem_before_any_byte_is_streamed(
    client: httpx.AsyncClient,
) -> None:
    cursor = await client.get("/v1/claims?format=csv&cursor=not-a-cursor")
    assert cursor.status_code == 400
    assert cursor.json()["type"] == "urn:testimony-api:problem:invalid-cursor"
    unknown = await client.get("/v1/claims?format=csv&colour=red")
    assert unknown.status_code == 400
    value = await client.get("/v1/claims?format=csv&value_min=many")
    assert value.status_code == 422
    assert value.headers["content-type"] == "application/problem+json"


async def test_csv_columns_follow_the_output_model(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    source = await factories.source(session, id="report", archived_text=TEXT)
    mine = await factories.facility(session, id="mine")
    await factories.claim(
        session,
        id="counted",
        about_facility=mine.id,
        source=source.id,
        quote="I was sent to the mine in 1987.",
        period_start="1987-03",
    )
    response = await client.get("/v1/claims?format=csv")
    reader = csv.reader(io.StringIO(response.text, newline=""))
    header = next(reader)
    assert header == [column.header for column in table_columns(Claim)]
    for column in ("period.start", "about.facility.id", "about.testimony.name", "state.version"):
        assert column in header
    assert "citations" not in header  # no column of JSON
    (row,) = csv_rows(response)
    assert row["about.facility.id"] == "mine"
    assert row["about.testimony.id"] == ""
    assert row["period.start"] == "1987-03"
    assert row["disclosure.coarsened"] == "false"
    assert row["cite_as.permalink"] == "http://testserver/v1/claims/counted"

    empty = await client.get("/v1/claims?format=csv&metric=wage")
    assert empty.text.splitlines() == [",".join(header)]  # the same header without records


async def test_a_claims_citation_is_flat_columns(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    kcna = await factories.organization(session, id="kcna", name="Korean Central News Agency")
    report = await factories.source(session, id="kcna-report", title="KCNA report")
    bbc = await factories.source(
        session, id="bbc", title="BBC News", publisher=kcna.id, archived_text=TEXT, relays=[report]
    )
    await factories.claim(
        session,
        id="relayed",
        claimant_organization=kcna.id,
        source=bbc.id,
        quote="I was sent to the mine in 1987.",
        relayed_from=report.id,
        value=700,
    )
    (row,) = csv_rows(await client.get("/v1/claims?format=csv"))
    (listed,) = (await client.get("/v1/claims")).json()["data"]
    citation = listed["citations"][0]
    assert (row["claimant.type"], row["claimant.id"], row["claimant.name"]) == (
        "organization",
        "kcna",
        "Korean Central News Agency",
    )
    assert (row["citations.source.id"], row["citations.source.title"]) == ("bbc", "BBC News")
    assert row["citations.source.publisher.id"] == "kcna"
    assert row["citations.quote"] == "I was sent to the mine in 1987."
    assert row["citations.locator.char_start"] == str(citation["locator"]["char_start"])
    assert row["citations.locator.char_end"] == str(citation["locator"]["char_end"])
    assert citation["locator"]["char_end"] - citation["locator"]["char_start"] == 31
    assert row["citations.relay_chain.count"] == "1"
    assert (row["citations.relay_chain.id"], row["citations.relay_chain.title"]) == (
        "kcna-report",
        "KCNA report",
    )
    assert (row["value"], row["metric"], row["stance"]) == ("700", "persons_count", "asserts")


async def test_a_list_of_objects_is_a_count_and_one_line_per_item(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await factories.source(session, id="first", title="First report", archived_text=TEXT)
    second = await factories.source(session, id="second", archived_text=TEXT, title="Second")
    mine = await factories.facility(session, id="mine", name="Mine")
    farm = await factories.facility(session, id="farm", name="Farm")
    await factories.testimony(
        session,
        id="kim",
        facilities=[mine, farm],
        labour_types=["mining", "agriculture"],
        excerpts=[
            {"source": first.id, "quote": "I was sent to the mine in 1987."},
            {
                "source": second.id,
                "quote": "the guards beat us every night.",
                "speaker": "narrator",
            },
        ],
    )
    await factories.testimony(session, id="lee")
    response = await client.get("/v1/testimonies?format=csv")
    assert next(csv.reader(io.StringIO(response.text))) == [
        column.header for column in table_columns(testimony_schemas.Testimony)
    ]
    rows = {row["id"]: row for row in csv_rows(response)}
    kim, lee = rows["kim"], rows["lee"]
    assert kim["citations.count"] == "2"
    assert kim["citations.source.id"] == "first\nsecond"
    assert kim["citations.source.title"] == "First report\nSecond"
    assert kim["citations.quote"] == (
        "I was sent to the mine in 1987.\nthe guards beat us every night."
    )
    assert kim["citations.speaker"] == "witness\nnarrator"
    starts = kim["citations.locator.char_start"].split("\n")
    assert [TEXT[int(start) : int(start) + 9] for start in starts] == ["I was sen", "the guard"]
    assert kim["citations.relay_chain.id"] == "\n"  # no relays: an empty line per excerpt
    assert (kim["facilities.count"], kim["facilities.id"]) == ("2", "farm\nmine")
    assert kim["labour_types"] == "mining; agriculture"
    assert (lee["citations.count"], lee["citations.quote"], lee["facilities.id"]) == ("0", "", "")


async def test_csv_quotes_joins_lists_and_neutralises_formulas(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await factories.organization(
        session,
        id="tricky",
        name='=HYPERLINK("http://evil.example","click")',
        aliases=["조선중앙통신", "+KCNA", "Korean, Central"],
        description='He said "700",\r\nthen left.',
    )
    await factories.organization(session, id="numbers", name="-42", aliases=["@home"])
    rows = {row["id"]: row for row in csv_rows(await client.get("/v1/organizations?format=csv"))}
    tricky = rows["tricky"]
    assert tricky["name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert tricky["aliases"] == "조선중앙통신; +KCNA; Korean, Central"
    assert tricky["description"] == 'He said "700",\r\nthen left.'
    assert rows["numbers"]["name"] == "-42"  # a number stays a number
    assert rows["numbers"]["aliases"] == "'@home"
    # Only CSV guards spreadsheets: NDJSON keeps the text as it is.
    records = ndjson_records(await client.get("/v1/organizations?format=ndjson"))
    assert {r["id"]: r["name"] for r in records}["tricky"].startswith("=HYPERLINK")


async def test_xlsx_holds_the_csv_rows_as_typed_cells(
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # A temporary folder of this test's own: other processes' workbooks are not its business.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    await protected_corpus(session)
    await factories.organization(
        session, id="tricky", name='=HYPERLINK("http://evil.example","click")', aliases=["@home"]
    )
    await factories.organization(session, id="numbers", name="-42")
    leftovers = sheet_folders()
    for path in LISTS:
        response = await client.get(f"{path}?format=xlsx")
        assert response.headers["content-disposition"].endswith('.xlsx"')
        header, cells = xlsx_cells(response)
        csv_response = await client.get(f"{path}?format=csv")
        assert header == next(csv.reader(io.StringIO(csv_response.text)))
        rows = [dict(zip(header, map(as_csv_text, row), strict=True)) for row in cells]
        assert rows == csv_rows(csv_response), path
    assert sheet_folders() == leftovers  # removed once sent

    header, cells = xlsx_cells(await client.get("/v1/claims?format=xlsx"))
    claims = {row[0]: dict(zip(header, row, strict=True)) for row in cells}
    public = claims["public"]
    assert public["value"] == 700
    assert isinstance(public["value"], int)
    assert public["disclosure.coarsened"] is False
    assert public["state.version"] == 1
    assert public["about.facility.id"] is None
    assert isinstance(public["created_at"], str)  # ISO 8601 text, as in the CSV
    assert public["created_at"] == (await client.get("/v1/claims/public")).json()["created_at"]
    assert claims["kim-age"]["value_min"] == 10

    # A text a spreadsheet would run is a text cell marked as text, its content unchanged.
    workbook = openpyxl.load_workbook(
        io.BytesIO((await client.get("/v1/organizations?format=xlsx&sort=id")).content)
    )
    sheet = workbook.active
    assert sheet is not None
    names = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2)}
    assert names["tricky"].value == '=HYPERLINK("http://evil.example","click")'
    assert names["tricky"].data_type == "s"
    assert names["tricky"].quotePrefix
    assert names["numbers"].value == "-42"  # a text, as the record has it; not a formula
    assert not names["numbers"].quotePrefix

    empty = await client.get("/v1/claims?format=xlsx&metric=wage")
    assert xlsx_cells(empty) == (header, [])


async def protected_corpus(session: AsyncSession) -> None:
    source = await factories.source(session, id="report", archived_text=TEXT)
    mine = await factories.facility(session, id="mine", province="north_hamgyong")
    await factories.testimony(
        session,
        id="kim",
        witness_pseudonym="Kim",
        protection_level="restricted",
        county="Hoeryong",
        witness_age_at_start=16,
        period_start="1987-03-14",
        facilities=[mine],
        excerpts=[{"source": source.id, "quote": "I was sent to the mine in 1987."}],
    )
    await factories.testimony(
        session,
        id="park",
        witness_pseudonym="Park",
        protection_level="confidential",
        county="Onsong",
        facilities=[mine],
        excerpts=[{"source": source.id, "quote": "the guards beat us every night."}],
    )
    await factories.testimony(session, id="open", witness_pseudonym="Lee", period_start="1995")
    await factories.claim(
        session,
        id="kim-age",
        metric="age_years",
        value=16,
        unit="years",
        claimant_testimony="kim",
        source=source.id,
        quote="I was sent to the mine in 1987.",
    )
    await factories.claim(session, id="park-count", claimant_testimony="park", value=30)
    await factories.claim(session, id="about-park", about_testimony="park", value=2)
    await factories.claim(session, id="public", value=700)


FORMATS = {
    "/v1/organizations": ["csv", "ndjson"],
    "/v1/sources": ["csv", "ndjson", "csl-json", "bibtex", "ris"],
    "/v1/facilities": ["csv", "ndjson", "geojson"],
    "/v1/testimonies": ["csv", "ndjson"],
    "/v1/claims": ["csv", "ndjson"],
}


@pytest.mark.parametrize("scope", [None, "read:restricted", "read:confidential"])
async def test_exports_protect_records_as_the_json_list_does(
    client: httpx.AsyncClient, session: AsyncSession, scope: str | None
) -> None:
    await protected_corpus(session)
    headers = await factories.api_key(session, scope) if scope else {}
    for path in LISTS:
        listed = await walk(client, f"{path}?limit=2", headers=headers)
        exported = await client.get(f"{path}?format=ndjson", headers=headers)
        assert ndjson_records(exported) == listed, path
        rows = csv_rows(await client.get(f"{path}?format=csv", headers=headers))
        assert [row["id"] for row in rows] == [r["id"] for r in listed], path
        header, cells = xlsx_cells(await client.get(f"{path}?format=xlsx", headers=headers))
        assert [dict(zip(header, map(as_csv_text, row), strict=True)) for row in cells] == rows
        if scope != "read:confidential":
            for format in FORMATS[path]:
                body = (await client.get(f"{path}?format={format}", headers=headers)).text
                for hidden in ('"park"', "park-count", "about-park", "Park", "Onsong", "beat us"):
                    assert hidden not in body, (path, format, hidden)
    testimonies = ndjson_records(await client.get("/v1/testimonies?format=ndjson", headers=headers))
    kim = next(t for t in testimonies if t["id"] == "kim")
    claims = ndjson_records(await client.get("/v1/claims?format=ndjson", headers=headers))
    kim_age = next(c for c in claims if c["id"] == "kim-age")
    if scope is None:
        assert kim["county"] is None
        assert kim["witness"]["age_at_start"] is None
        assert kim["period"]["start"] == "1987"
        assert kim["disclosure"]["coarsened"] is True
        assert kim["citations"][0]["quote"] is None
        assert (kim_age["value"], kim_age["value_min"], kim_age["value_max"]) == (None, 10, 19)
        rows = csv_rows(await client.get("/v1/testimonies?format=csv", headers=headers))
        assert next(r for r in rows if r["id"] == "kim")["county"] == ""
    else:
        assert kim["county"] == "Hoeryong"
        assert kim_age["value"] == 16
    ids = {t["id"] for t in testimonies}
    assert ids == ({"kim", "open", "park"} if scope == "read:confidential" else {"kim", "open"})


async def disclosure_events(session: AsyncSession) -> list[AuditEvent]:
    events = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action.in_(["read_restricted", "read_confidential"]))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    )
    return list(events)


async def test_full_disclosures_in_an_export_are_audited_batch_by_batch(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)
    for number in range(3):
        await factories.testimony(session, id=f"witness-{number}", protection_level="restricted")
    await factories.testimony(session, id="secret", protection_level="confidential")
    await factories.testimony(session, id="plain", protection_level="public")

    anonymous = await client.get("/v1/testimonies?format=csv")
    assert len(csv_rows(anonymous)) == 4
    assert await disclosure_events(session) == []  # nothing was shown in full

    restricted = await factories.api_key(session, "read:restricted")
    response = await client.get("/v1/testimonies?format=ndjson", headers=restricted)
    assert [r["id"] for r in ndjson_records(response)] == [
        "plain",
        "witness-0",
        "witness-1",
        "witness-2",
    ]
    events = await disclosure_events(session)
    assert [e.records for e in events] == [
        ["testimonies/witness-0"],  # the first batch: plain and witness-0
        ["testimonies/witness-1", "testimonies/witness-2"],
    ]
    assert {(e.action, e.method, e.route, e.path) for e in events} == {
        ("read_restricted", "GET", "/v1/testimonies", "/v1/testimonies")
    }

    confidential = await factories.api_key(session, "read:confidential")
    await client.get("/v1/testimonies?format=csv&sort=-id", headers=confidential)
    latest = (await disclosure_events(session))[2:]  # witness-2 and -1, then -0 and secret
    assert [e.action for e in latest] == ["read_restricted", "read_confidential"]
    assert latest[1].records == ["testimonies/secret", "testimonies/witness-0"]
    assert latest[1].key_id is not None


async def test_facilities_as_geojson(client: httpx.AsyncClient, session: AsyncSession) -> None:
    operator = await factories.organization(session, id="bureau", name="Bureau")
    await factories.facility(
        session,
        id="located",
        name="Located mine",
        operator=operator.id,
        products=["coal"],
        location={"latitude": 39.5, "longitude": 125.9, "precision": "approximate"},
    )
    await factories.facility(session, id="unlocated", name="Unlocated mine")
    response = await client.get("/v1/facilities", headers={"Accept": "application/geo+json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-disposition"].endswith('.geojson"')
    collection = geojson.loads(response.text)
    assert isinstance(collection, geojson.FeatureCollection)
    assert collection.is_valid, collection.errors()
    features = {feature["id"]: feature for feature in collection["features"]}
    located, unlocated = features["located"], features["unlocated"]
    assert located["geometry"] == {"type": "Point", "coordinates": [125.9, 39.5]}
    assert located["properties"]["location_precision"] == "approximate"
    assert located["properties"]["operator"] == {"id": "bureau", "name": "Bureau"}
    assert "location" not in located["properties"]
    assert unlocated["geometry"] is None
    assert unlocated["properties"]["location_precision"] == "unknown"
    listed = {f["id"]: f for f in (await client.get("/v1/facilities")).json()["data"]}
    expected = listed["located"] | {"location_precision": "approximate"}
    del expected["location"]
    assert located["properties"] == expected

    empty = await client.get("/v1/facilities?format=geojson&facility_type=farm")
    assert geojson.loads(empty.text) == {"type": "FeatureCollection", "features": []}


async def test_sources_as_citation_sets(client: httpx.AsyncClient, session: AsyncSession) -> None:
    outlet = await factories.organization(session, id="nk-news", name="NK News", kind="news_outlet")
    await factories.source(
        session,
        id="ask",
        title="Ask A North Korean: What is forced labor like?",
        publisher=outlet.id,
        authors=["David"],
        published="2024-05-21",
        url="https://example.org/ask",
    )
    await factories.source(
        session, id="blood-coal", title="Blood Coal Export", source_type="ngo_report"
    )
    await factories.source(
        session, id="other-lang", title="다른 보고서", source_type="other", language="ko"
    )
    ids = ["ask", "blood-coal"]  # newest first, undated last; filtered to English
    query = "/v1/sources?language=en&format="

    csl = await client.get(query + "csl-json")
    assert csl.headers["content-type"] == "application/vnd.citationstyles.csl+json"
    assert csl.headers["content-disposition"].endswith('.json"')
    items = json.loads(csl.text)
    assert [item["id"] for item in items] == ids
    single = (await client.get("/v1/sources/ask/citation?format=csl-json")).json()
    assert items[0] == single[0]

    bibtex = await client.get(query + "bibtex")
    assert bibtex.headers["content-type"].startswith("application/x-bibtex")
    assert bibtex.headers["content-disposition"].endswith('.bib"')
    entries = parse_string(bibtex.text, "bibtex").entries
    assert list(entries) == ids
    assert entries["ask"].type == "article"
    assert entries["ask"].fields["journal"] == "NK News"
    assert entries["blood-coal"].type == "techreport"

    ris = await client.get(query + "ris", headers={"Accept": "text/csv"})
    assert ris.headers["content-type"].startswith("application/x-research-info-systems")
    assert ris.headers["content-disposition"].endswith('.ris"')
    records = rispy.loads(ris.text)
    assert [record["id"] for record in records] == ids
    assert records[0]["type_of_reference"] == "NEWS"
    assert records[0]["authors"] == ["David"]

    by_accept = await client.get(
        "/v1/sources?language=en", headers={"Accept": "application/x-research-info-systems"}
    )
    assert by_accept.text == ris.text

    nothing = await client.get("/v1/sources?language=fr&format=csl-json")
    assert json.loads(nothing.text) == []
    assert (await client.get("/v1/sources?language=fr&format=bibtex")).text == ""


async def test_an_export_reads_one_snapshot_through_its_own_sessions(
    app: FastAPI, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the test's session: committed rows, the app's own sessions."""
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)
    insert = "INSERT INTO organizations (id, name, kind) VALUES (:id, 'Snapshot', 'ngo')"
    async with engine.begin() as connection:
        for number in range(1, 6):
            await connection.execute(text(insert), {"id": f"snap-{number}"})
        await factories.render_missing(connection)
    sessions = exports.DatabaseSessions(app.state.sessionmaker)
    seen: list[str] = []
    try:
        async with sessions.snapshot() as snapshot:
            batches = exports.export_batches(
                organizations_router.EXPORT,
                OrganizationQuery(sort="id"),
                snapshot,
                Cursors("test"),
                Citer("http://testserver", datetime.now(UTC).date()),
                Viewer(Principal(key_id=None, scopes=frozenset(), address="test")),
            )
            async for records in batches:
                seen += [r.record_id for r in records if r.record_id.startswith("snap-")]
                if len(seen) == 2:  # meanwhile, another transaction changes the list
                    async with engine.begin() as connection:
                        await connection.execute(text(insert), {"id": "snap-0"})
                        await connection.execute(text(insert), {"id": "snap-6"})
                        await factories.render_missing(connection)
                        await connection.execute(
                            text("DELETE FROM organizations WHERE id = 'snap-5'")
                        )
            isolation = await snapshot.scalar(text("SHOW transaction_isolation"))
            read_only = await snapshot.scalar(text("SHOW transaction_read_only"))
        assert (isolation, read_only) == ("repeatable read", "on")
        assert seen == [f"snap-{n}" for n in range(1, 6)]  # as it stood when it began
    finally:
        async with engine.begin() as connection:
            await factories.remove_committed(connection, "organizations", "snap-%")


async def test_an_export_commits_its_audit_events_itself(
    database_url: URL, engine: AsyncEngine
) -> None:
    """Through an app with no test overrides: the request's session has committed before the
    body is sent, so the export writes and commits its disclosures on its own."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        await factories.testimony(
            session, id="committed-kim", protection_level="restricted", county="Hoeryong"
        )
        headers = await factories.api_key(session, "read:restricted")
        await index_pending(session)
    app = create_app(app_settings(database_url))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/v1/testimonies?format=ndjson", headers=headers)
            (record,) = [r for r in ndjson_records(response) if r["id"] == "committed-kim"]
            assert record["county"] == "Hoeryong"
            anonymous = await client.get("/v1/testimonies?format=csv")
            assert "Hoeryong" not in anonymous.text
        async with engine.connect() as connection:
            events = (
                await connection.execute(
                    text(
                        "SELECT action, route, records FROM audit_events "
                        "WHERE 'testimonies/committed-kim' = ANY(records)"
                    )
                )
            ).all()
        assert [tuple(e) for e in events] == [
            ("read_restricted", "/v1/testimonies", ["testimonies/committed-kim"])
        ]
    finally:
        await app.state.engine.dispose()
        async with engine.begin() as connection:
            for statement in (
                "DELETE FROM audit_events WHERE 'testimonies/committed-kim' = ANY(records)",
                "DELETE FROM api_keys WHERE name = 'test key' AND id NOT IN "
                "(SELECT key_id FROM audit_events WHERE key_id IS NOT NULL)",
            ):
                await connection.execute(text(statement))
            await factories.remove_committed(connection, "testimonies", "committed-kim")


@pytest.mark.parametrize("base_url", [None, 'https://example.org/odd,"base', "=1+1"])
async def test_citation_columns_are_the_json_lists_whatever_the_base_url_and_ids_hold(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    base_url: str | None,
) -> None:
    """The CSV line is rendered ahead of the request: what the request supplies (the base
    URL) and what the record holds (an id written by SQL, a name a spreadsheet would run)
    are quoted and neutralised as if the whole line were written now."""
    monkeypatch.setattr(app.state.settings, "public_base_url", base_url)
    await session.execute(
        text(
            "INSERT INTO organizations (id, name, kind) VALUES "
            "('plain', 'Plain', 'ngo'), ('odd,\"id', '=SUM(A1)', 'ngo'), ('-5', '\"Q\", r', 'ngo')"
        )
    )
    await index_missing(session)
    listed = await walk(client, "/v1/organizations?limit=2")
    base = base_url or "http://testserver"
    assert {r["cite_as"]["permalink"] for r in listed} >= {f"{base}/v1/organizations/plain"}
    assert ndjson_records(await client.get("/v1/organizations?format=ndjson")) == listed
    rows = csv_rows(await client.get("/v1/organizations?format=csv"))
    for row, record in zip(rows, listed, strict=True):
        assert row["id"] == record["id"]
        for field in ("permalink", "text", "accessed"):
            value = record["cite_as"][field]
            formula = value.startswith(("=", "+", "-", "@"))
            assert row[f"cite_as.{field}"] == ("'" if formula else "") + value, (base, field)
