"""On 100,000 generated claims and as many facilities, with real statistics, search, facets,
filtered lists and corroboration are answered from their indexes: no sequential scan of a
large table.

The rows are generated in SQL (the write path would take minutes) with documents shaped like
the indexer's, then ANALYZEd; each request's statements are captured as the app sends them
and explained as the planner would run them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.search import query
from app.search.query import RANKED
from tests.test_query_plans import captured_statements, plan_nodes

ROWS = 100_000
FILL = """
INSERT INTO organizations (id, name, kind) VALUES ('gen-org', 'Generated', 'other');
INSERT INTO sources (id, title, source_type) VALUES ('gen-source', 'Generated', 'other');
INSERT INTO facilities (id, name, facility_type, province, updated_at)
SELECT 'gen-facility-' || n, 'Site ' || substr(md5(n::text), 1, 8),
       (ARRAY['coal_mine', 'farm', 'factory', 'labour_camp'])[1 + n % 4],
       (ARRAY['north_hamgyong', 'chagang', NULL])[1 + n % 3], now() - n * interval '2 s'
FROM generate_series(1, :rows) AS n;
UPDATE facilities SET name = 'Kaech''ŏn camp' WHERE id = 'gen-facility-77';
INSERT INTO claims (id, statement, fact, metric, value, unit, approximation,
                    claimant_organization_id, stance, source_id, quote, about_facility_id,
                    updated_at)
SELECT 'gen-claim-' || n,
       'Workers at site ' || substr(md5(n::text), 1, 6)
         || CASE WHEN n % 20000 = 0 THEN ' volunteered' ELSE ' were counted' END
         || CASE WHEN n % 10 = 3 THEN ' at the quarry' ELSE '' END,
       CASE WHEN n % 100 = 0 THEN 'age-of-workers' ELSE 'workers-count' END,
       CASE WHEN n % 100 = 0 THEN 'age_years' ELSE 'persons_count' END,
       n % 5000, CASE WHEN n % 100 = 0 THEN 'years' ELSE 'persons' END, 'exact', 'gen-org',
       'asserts', 'gen-source', 'generated', 'gen-facility-' || (1 + n % 20000),
       now() - n * interval '2 s' - interval '1 s'
FROM generate_series(1, :rows) AS n;
INSERT INTO search_documents (kind, record_id, ref, tiers, retracted, changed_at, title, vector,
                              names, body)
SELECT 'claims', id, 'claims/' || id, '{public,restricted,confidential}', false, updated_at,
       statement,
       setweight(to_tsvector('english', statement), 'A'), NULL, statement
FROM claims;
INSERT INTO search_documents (kind, record_id, ref, tiers, retracted, changed_at, title, vector,
                              names, body)
SELECT 'facilities', id, 'facilities/' || id, '{public,restricted,confidential}', false,
       updated_at, name,
       setweight(to_tsvector('english', name), 'A'),
       lower(regexp_replace(translate(name, 'ŏŭ', 'ou'), '[^[:alnum:]]', '', 'g')), name
FROM facilities;
INSERT INTO record_views (kind, record_id, tier, version, body, cite)
SELECT kind, id, tier, 1, '{"id":"' || id || '"', id
FROM (SELECT 'claims' AS kind, id FROM claims UNION ALL SELECT 'facilities', id FROM facilities
      UNION ALL SELECT 'organizations', id FROM organizations
      UNION ALL SELECT 'sources', id FROM sources) AS records,
     unnest(ARRAY['public', 'restricted', 'confidential']) AS tier;
ANALYZE organizations, sources, facilities, claims, search_documents, record_views
"""


@pytest.fixture
async def generated(session: AsyncSession) -> None:
    for statement in FILL.split(";\n"):
        await session.execute(text(statement), {"rows": ROWS})


async def plans_of(
    client: httpx.AsyncClient,
    session: AsyncSession,
    url: str,
    marker: str,
    options: str = "FORMAT JSON",
) -> list[dict[str, Any]]:
    """The plans of the statements of one request whose SQL contains `marker`, explained
    with these options."""
    with captured_statements(session) as statements:
        response = await client.get(url)
        assert response.status_code == 200, response.text
    connection = await session.connection()
    plans = []
    for sql, parameters in statements:
        if marker not in sql or not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        result = await connection.exec_driver_sql(f"EXPLAIN ({options}) {sql}", parameters)
        raw = result.scalar_one()
        plans.append((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])
    assert plans, f"no statement with {marker!r} for {url}"
    return plans


def indexes_used(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in plan_nodes(plan) if "Index Name" in node}


def scanned_tables(plan: dict[str, Any]) -> set[str]:
    return {node["Relation Name"] for node in plan_nodes(plan) if node["Node Type"] == "Seq Scan"}


LARGE = {"claims", "facilities", "search_documents"}


# (request, marker of the statements to explain, indexes their plans must use)
CASES = [
    # Full text, and names by trigrams (the folded query is long enough for both).
    ("/v1/search?q=volunteered", "search_documents", {"ix_search_documents_vector"}),
    (
        "/v1/search?q=Kaechon",
        "search_documents",
        {"ix_search_documents_vector", "ix_search_documents_names"},
    ),
    ("/v1/claims?q=volunteered", "search_documents", {"ix_search_documents_vector"}),
    # The few records a rare word matches are looked up by id, not met on a walk of them all.
    ("/v1/claims?q=volunteered", "record_views", {"pk_claims"}),
    ("/v1/facilities?q=Gaecheon", "search_documents", {"ix_search_documents_names"}),
    # Facets under a selective filter group only the rows the filter's index finds.
    (
        "/v1/claims?facility=gen-facility-7&facet=metric&facet=unit&limit=1",
        "GROUP BY",
        {"ix_claims_about_facility_id"},
    ),
    ("/v1/claims?facility=gen-facility-7", "LIMIT", {"ix_claims_about_facility_id"}),
    # By the metric's index, or walking the value's index to the page's end: never a scan.
    ("/v1/claims?metric=age_years&sort=-value", "LIMIT", set()),
    ("/v1/facilities?province=chagang&facet=facility_type", "GROUP BY", {"ix_facilities_province"}),
    # Corroboration finds the claims of the same fact, metric, unit and subjects by their
    # index.
    # (A list serves the figures stored with its views: it corroborates nothing itself.)
    ("/v1/claims/gen-claim-7/related", "target", {"ix_claims_subject"}),
]


@pytest.mark.usefixtures("generated")
async def test_searches_facets_and_filters_use_their_indexes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # One test for all cases: the rows are generated once (about 20 s).
    problems = []
    for url, marker, indexes in CASES:
        plans = await plans_of(client, session, url, marker)
        scanned = set().union(*(scanned_tables(plan) for plan in plans)) & LARGE
        used = set().union(*(indexes_used(plan) for plan in plans))
        if scanned or not indexes <= used:
            problems.append(f"{url}: scans {scanned}, uses {used}, expected {indexes}")
    assert not problems, "\n".join(problems)
    # The plans are of queries that really answer: the fill is what they expect.
    found = (await client.get("/v1/search?q=Kaechon")).json()["data"]
    assert [r["id"] for r in found] == ["gen-facility-77"]
    claims = (await client.get("/v1/claims?q=volunteered&count=true")).json()
    assert claims["page"]["total"] == ROWS // 20000
    facets = (await client.get("/v1/claims?facility=gen-facility-7&facet=metric")).json()
    assert sum(group["count"] for group in facets["facets"]["metric"]) == 5
    # A page serves stored views: one statement for its rows, no corroboration.
    with captured_statements(session) as statements:
        assert (await client.get("/v1/claims?facility=gen-facility-7")).status_code == 200
    selects = [sql for sql, _ in statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert [sql for sql in selects if "record_views" in sql and "LIMIT" in sql], selects
    assert not [sql for sql in selects if "corroborating_quotes" in sql], selects


# Search documents alone, as /v1/search reads them: claims whose records changed one after
# another, each with a facility's between them. "counted" is in nearly every claim, "quarry" in
# a tenth, "volunteered" in five, "kiln" in the 3,000 least recently changed.
DOCUMENTS = """
INSERT INTO search_documents (kind, record_id, ref, tiers, retracted, changed_at, title, vector,
                              names, body)
SELECT kind, id, kind || '/' || id, '{public,restricted,confidential}', false, changed_at, title,
       setweight(to_tsvector('english', title), 'A'), names, title
FROM (
  SELECT 'claims' AS kind, 'gen-claim-' || n AS id, now() - n * interval '2 s' AS changed_at,
         'Workers at site ' || substr(md5(n::text), 1, 6)
           || CASE WHEN n % 20000 = 0 THEN ' volunteered' ELSE ' were counted' END
           || CASE WHEN n % 10 = 3 THEN ' at the quarry' ELSE '' END
           || CASE WHEN n > :rows - 3000 THEN ' near the kiln' ELSE '' END AS title,
         NULL AS names
  FROM generate_series(1, :rows) AS n
  UNION ALL
  SELECT 'facilities', 'gen-facility-' || n, now() - n * interval '2 s' - interval '1 s',
         'Site ' || substr(md5(n::text), 1, 8), 'site' || substr(md5(n::text), 1, 8)
  FROM generate_series(1, :rows) AS n
) AS documents;
ANALYZE search_documents
"""


def _rows_of(node: dict[str, Any]) -> float:
    rows: float = node["Actual Rows"] * node["Actual Loops"]
    return rows


def _read(plans: list[dict[str, Any]]) -> float:
    """How many documents the plans read: the rows their scans kept and those they dropped."""
    scans = [
        node
        for plan in plans
        for node in plan_nodes(plan)
        if node.get("Relation Name") == "search_documents"
    ]
    removed = sum(n.get("Rows Removed by Filter", 0) * n["Actual Loops"] for n in scans)
    return sum(_rows_of(n) for n in scans) + float(removed)


async def test_a_common_word_ranks_and_reads_a_bounded_number_of_matches(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    for statement in DOCUMENTS.split(";\n"):
        await session.execute(text(statement), {"rows": ROWS})
    monkeypatch.setattr(query, "_edges", {})  # the window of these documents
    options = "ANALYZE, VERBOSE, FORMAT JSON"
    window = query.WINDOW
    # (word, how many documents match, how many the first page may read at most): a word in
    # nearly every document is found by walking the newest ones, a few more than are ranked;
    # one in a tenth by reading the window at most; one with no match among the newest from
    # the full-text index, its matches and no others beside the window.
    words = [
        ("counted", ROWS - 5, 3 * RANKED),
        ("quarry", ROWS // 10, window),
        ("kiln", 3000, window + 3000),
        ("volunteered", 5, 10),
    ]
    for word, matching, most in words:
        url = f"/v1/search?q={word}&limit=50"
        plans = await plans_of(client, session, url, "ts_rank_cd", options)
        nodes = [node for plan in plans for node in plan_nodes(plan)]
        # The score is computed for the ranked candidates only, however many match.
        ranking = [node for node in nodes if "ts_rank_cd" in " ".join(node.get("Output", []))]
        assert ranking, word
        assert max(_rows_of(node) for node in ranking) <= RANKED, word
        assert _read(plans) <= most, word
        page = (await client.get(url)).json()
        assert page["page"]["total"] == (matching if matching <= RANKED else f">{RANKED}")
        scores = [result["score"] for result in page["data"]]
        assert scores == sorted(scores, reverse=True), word
        assert len(scores) == min(matching, 50), word
