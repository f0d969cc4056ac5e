"""The OpenAPI document is the contract: every operation, called with valid requests on the seed
corpus (and with the refusals a client meets: no key, an unknown id, a stale or missing
If-Match, a repeated id), answers with a status the operation declares, a Content-Type declared
for that status, and a body valid against the schema declared for that media type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.seeding.loader import SeedData, load_seed, read_seed
from app.settings import SEED_DIR
from tests import factories

KINDS = {
    "organization": "organizations",
    "source": "sources",
    "facility": "facilities",
    "testimony": "testimonies",
    "claim": "claims",
}
# One change per kind, for the update.
PATCHES = {
    "organization": {"description": "Changed by the contract test."},
    "source": {"title": "A title changed by the contract test"},
    "facility": {"description": "Changed by the contract test."},
    "testimony": {"summary": "A summary changed by the contract test."},
    "claim": {"notes": "Changed by the contract test."},
}


@dataclass(frozen=True)
class Call:
    method: str
    template: str
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None

    @property
    def url(self) -> str:
        url = self.template
        for name, value in self.path.items():
            url = url.replace(f"{{{name}}}", value)
        return url

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.url}{'?' + query if query else ''}"


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class Contract:
    """The document, and what a real answer must be to honour it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._validators: dict[str, Any] = {}

    def operation(self, call: Call) -> dict[str, Any]:
        operation: dict[str, Any] = self.document["paths"][call.template][call.method.lower()]
        return operation

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            # `#/components/...` references resolve against this document root.
            root = schema | {"components": self.document["components"]}
            self._validators[key] = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
        return self._validators[key]

    def violations(self, call: Call, response: httpx.Response) -> list[str]:
        operation = self.operation(call)
        responses = operation["responses"]
        status = response.status_code
        declared = responses.get(str(status)) or responses.get(f"{status // 100}XX")
        if declared is None:
            return [f"{call}: {status} is not declared (declared: {', '.join(responses)})"]
        required = {p["name"].lower() for p in operation.get("parameters", []) if p.get("required")}
        if status == 428 and "if-match" not in required:
            # Refused for want of a precondition: the document must say it is required.
            return [f"{call}: 428 without If-Match, which is not declared required"]
        content: dict[str, Any] = declared.get("content", {})
        if not content:
            if response.content:
                return [f"{call}: {status} declares no body, got {len(response.content)} bytes"]
            return []
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in content:
            return [f"{call}: {status} sent {media_type!r}, declared {', '.join(content)}"]
        schema = content[media_type].get("schema", {})
        try:
            body = response.json() if _is_json(media_type) else response.text
        except ValueError:
            return [f"{call}: {status} {media_type} is not JSON: {response.text[:120]!r}"]
        errors = [
            f"{call}: {status} {media_type} at {'/'.join(map(str, e.instance_path)) or '.'}: "
            f"{e.message[:300]}"
            for e in self._validator(schema).iter_errors(body)
        ]
        return errors[:5]


@pytest.fixture
async def seed(session: AsyncSession) -> SeedData:
    data = read_seed(SEED_DIR)
    await load_seed(session, data)
    return data


def _ids(seed: SeedData) -> dict[str, str]:
    """A record of each kind from the corpus, and one protected of each kind that has some."""
    ids = {f"{kind}_id": getattr(seed, plural)[0].id for kind, plural in KINDS.items()}
    ids["source_id"] = next(s.id for s in seed.sources if s.archived_text)
    return ids


def _new_records(seed: SeedData) -> dict[str, dict[str, Any]]:
    """A valid create body of each kind: a corpus record under a new id (a source without its
    URL, which must be unique)."""
    bodies = {}
    for kind, plural in KINDS.items():
        record = getattr(seed, plural)[0].model_dump(mode="json", exclude_none=True)
        record["id"] = f"contract-{kind}"
        record.pop("url", None)
        bodies[kind] = record
    return bodies


def _enum(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The values a parameter's schema enumerates, through references, unions and arrays."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    values: list[str] = list(schema.get("enum", []))
    for option in schema.get("anyOf", []):
        values += _enum(document, option)
    if "items" in schema:
        values += _enum(document, schema["items"])
    return values


def _reads(document: dict[str, Any], ids: dict[str, str]) -> Iterator[Call]:
    """Every GET of the document: plain, in each format and facet it offers, and with `count`;
    each with an unknown id and an unknown parameter as well."""
    for template, operations in document["paths"].items():
        if "get" not in operations:
            continue
        operation = operations["get"]
        params = {p["name"]: p for p in operation.get("parameters", [])}
        path = {name: ids.get(name, "1") for name, p in params.items() if p["in"] == "path"}
        query: dict[str, Any] = {"q": "coal"} if params.get("q", {}).get("required") else {}
        yield Call("GET", template, path, query)
        for name in ("format", "facet", "sort"):
            for value in _enum(document, params.get(name, {}).get("schema", {})):
                yield Call("GET", template, path, query | {name: value})
        if "count" in params:
            yield Call("GET", template, path, query | {"count": "true", "limit": "2"})
        yield Call("GET", template, path, query | {"no_such_parameter": "1"})
        if "limit" in params:
            yield Call("GET", template, path, query | {"limit": "0"})
        if path:
            yield Call("GET", template, {name: "no-such-record" for name in path}, query)


def _citations(ids: dict[str, str]) -> Iterator[Call]:
    """The citation asked for by Accept: CSL-JSON, the one format `citation` declares, for
    what it names and for what it does not offer."""
    template = "/v1/sources/{source_id}/citation"
    path = {"source_id": ids["source_id"]}
    for accept in ("application/vnd.citationstyles.csl+json", "text/html"):
        yield Call("GET", template, path, headers={"Accept": accept})


async def _check(
    client: httpx.AsyncClient, contract: Contract, call: Call, headers: dict[str, str]
) -> tuple[httpx.Response, list[str]]:
    response = await client.request(
        call.method,
        call.url,
        params=call.query,
        headers=headers | call.headers,
        json=call.json,
        content=call.content,
    )
    return response, contract.violations(call, response)


async def test_every_answer_is_as_the_document_declares(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, seed: SeedData
) -> None:
    contract = Contract(app.openapi())
    ids = _ids(seed)
    full = await factories.api_key(session, "read:confidential", "write", "admin")
    reader = await factories.api_key(session)
    violations: list[str] = []
    called: set[tuple[str, str]] = set()

    async def call(call: Call, headers: dict[str, str] = full) -> httpx.Response:
        response, found = await _check(client, contract, call, headers)
        called.add((call.method, call.template))
        violations.extend(found)
        return response

    for read in _reads(contract.document, ids):
        for headers in (full, {}, reader):
            await call(read, headers)
    for citation in _citations(ids):
        await call(citation)

    # Conditional reads: a 304 for the current ETag.
    for kind, plural in KINDS.items():
        template = f"/v1/{plural}/{{{kind}_id}}"
        path = {f"{kind}_id": ids[f"{kind}_id"]}
        etag = (await call(Call("GET", template, path))).headers["ETag"]
        await call(Call("GET", template, path, headers={"If-None-Match": etag}))

    # Writes: create (again: a conflict), update (stale, without If-Match), retract (again).
    for kind, body in _new_records(seed).items():
        plural = KINDS[kind]
        collection, one = f"/v1/{plural}", f"/v1/{plural}/{{{kind}_id}}"
        path = {f"{kind}_id": body["id"]}
        await call(Call("POST", collection, json=body), {})
        created = await call(Call("POST", collection, json=body, headers={"Idempotency-Key": kind}))
        assert created.status_code == 201, created.text
        await call(Call("POST", collection, json=body, headers={"Idempotency-Key": kind}))
        await call(Call("POST", collection, json=body))
        await call(Call("POST", collection, json=body | {"no_such_field": 1}))
        await call(Call("POST", collection, json=body), reader)
        etag = created.headers["ETag"]
        patch = PATCHES[kind]
        await call(Call("PATCH", one, path, json=patch))
        await call(Call("PATCH", one, path, json=patch, headers={"If-Match": '"0-x"'}))
        await call(Call("PATCH", one, {f"{kind}_id": "no-such-record"}, json=patch))
        changed = await call(Call("PATCH", one, path, json=patch, headers={"If-Match": etag}))
        assert changed.status_code == 200, changed.text
        await call(Call("GET", f"{one}/revisions", path))
        await call(Call("GET", f"{one}/revisions/{{revision}}", path | {"revision": "2"}))
        await call(Call("DELETE", one, path, {"reason": "A test"}))
        retracted = await call(
            Call("DELETE", one, path, {"reason": "A test"}, {"If-Match": changed.headers["ETag"]})
        )
        assert retracted.status_code == 200, retracted.text
        await call(
            Call("DELETE", one, path, {"reason": "Again"}, {"If-Match": retracted.headers["ETag"]})
        )
        await call(Call("DELETE", one, path), reader)

    # The import: valid (dry run and not), invalid, of another media type, and without a key.
    ndjson = {"Content-Type": "application/x-ndjson"}
    line = {"type": "organization", "record": {"id": "imported", "name": "I", "kind": "ngo"}}
    valid = json.dumps(line).encode() + b"\n"
    for query in ({"dry_run": "true"}, {}):
        await call(Call("POST", "/v1/import", query=query, headers=ndjson, content=valid))
    await call(Call("POST", "/v1/import", headers=ndjson, content=b"{not json}\n"))
    await call(Call("POST", "/v1/import", query={"dry_run": "true"}, json={"records": [line]}))
    await call(Call("POST", "/v1/import", json={"records": [{"type": "organization"}]}))
    await call(Call("POST", "/v1/import", headers={"Content-Type": "text/csv"}, content=valid))
    await call(Call("POST", "/v1/import", headers=ndjson, content=valid), {})

    documented = {
        (method.upper(), template)
        for template, operations in contract.document["paths"].items()
        for method in operations
    }
    assert documented - called == set(), "operations the contract test does not call"
    assert not violations, "\n".join(violations)
