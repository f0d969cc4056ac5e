"""Bad input is a 4xx that names the problem, never a 5xx.

A table of inputs that can never succeed (text the database cannot store, JSON nested too
deep, an over-long URL, over-large headers or body, numbers no field takes, an empty id) is
walked over every operation of the OpenAPI document: each POST, PATCH and DELETE with its body,
and each parameter of every operation. Every answer must be a 4xx the operation declares, in
problem+json with type, title, status and detail, and `errors` naming the field or parameter
where there is one. The limits are also checked on a real server, whose connection stays usable.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import get_session
from app.kit.limits import MAX_HEADER_BYTES, MAX_JSON_DEPTH, MAX_URL_BYTES, SERVER_OPTIONS
from app.main import create_app
from app.seeding.loader import SeedData, read_seed
from app.settings import SEED_DIR
from tests import factories
from tests.conftest import app_settings

PROBLEM_JSON = "application/problem+json"
# Text PostgreSQL cannot store: NUL, and a lone surrogate (a JSON `\ud800` escape).
UNSTORABLE = {"NUL": "a\x00b", "lone surrogate": "a\ud800b"}
# Numbers no field takes: JSON has no NaN or infinities, and a number too long to convert.
UNNUMBERS = {
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "1e999": "1e999",
    "10^20": "1" + "0" * 20,
    "5000 digits": "9" * 5000,
}
KINDS = {
    "organizations": "organization",
    "sources": "source",
    "facilities": "facility",
    "testimonies": "testimony",
    "claims": "claim",
}
SMALL_BODY = 4096


@dataclass(frozen=True)
class Case:
    """One bad request, and what the answer must name."""

    label: str
    method: str
    template: str
    path: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    # (location, name) that the answer's `errors` must name; None when no field is to blame.
    names: tuple[str, str] | None = None
    status: int | None = None

    @property
    def url(self) -> str:
        url = self.template
        for name, value in self.path.items():
            url = url.replace(f"{{{name}}}", value)
        return url


def _document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


@pytest.fixture(scope="module")
def seed() -> SeedData:
    return read_seed(SEED_DIR)


def _richest(records: list[Any]) -> dict[str, Any]:
    """The record with the most values to spoil."""
    dumps = [record.model_dump(mode="json", exclude_none=True) for record in records]
    return max(dumps, key=lambda dump: len(list(_leaves(dump))))


def bodies(seed: SeedData) -> dict[str, dict[str, Any]]:
    """A valid create body of each kind, from the corpus."""
    return {plural: _richest(getattr(seed, plural)) for plural in KINDS}


def _leaves(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def _set(value: Any, path: tuple[str | int, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _set(value[head], tuple(rest), new)  # type: ignore[index]
    return copy


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in path)


def _names(name: str) -> set[str]:
    """What an error may name for a value: its place, or the list of plain values holding it
    (`aliases.2` or `aliases`)."""
    parts = name.split(".")
    while parts[-1].isdigit():
        parts.pop()
    return {name, ".".join(parts)}


def _json(value: Any) -> bytes:
    # ASCII: a lone surrogate goes as its `\ud800` escape, as a client's encoder would send it.
    return json.dumps(value).encode()


def _with_raw_number(body: dict[str, Any], path: tuple[str | int, ...], raw: str) -> bytes:
    marker = "__number_placeholder__"
    return _json(_set(body, path, marker)).replace(f'"{marker}"'.encode(), raw.encode())


def _body_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                yield method.upper(), template, operation


def _path_values(template: str, value: str = "x") -> dict[str, str]:
    return {
        part[1:-1]: value if part != "{revision}" else "1"
        for part in template.split("/")
        if part.startswith("{")
    }


def _required_query(operation: dict[str, Any]) -> list[tuple[str, str]]:
    examples = {"reason": "A reason", "q": "coal"}
    return [
        (p["name"], examples[p["name"]])
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    ]


def _required_headers(operation: dict[str, Any]) -> dict[str, str]:
    return {
        p["name"]: '"1-public"'
        for p in operation.get("parameters", [])
        if p["in"] == "header" and p.get("required")
    }


def _case(base: Case, label: str, content: bytes, names: tuple[str, str] | None = None) -> Case:
    return replace(base, label=f"{base.label}: {label}", content=content, names=names)


def body_cases(document: dict[str, Any], seed: SeedData) -> Iterator[Case]:
    """Every JSON body: each text made unstorable, each number made one no field takes, and
    the body nested too deep, not JSON, not UTF-8, not an object."""
    valid = bodies(seed)
    for method, template, operation in _body_operations(document):
        if template == "/v1/import":
            yield from _import_cases(operation, valid["organizations"])
            continue
        body = valid[template.split("/")[2]]
        if method != "POST":
            body = {k: v for k, v in body.items() if k != "id"}
        base = Case(
            f"{method} {template}",
            method,
            template,
            _path_values(template),
            _required_query(operation),
            {"Content-Type": "application/json"} | _required_headers(operation),
        )

        for path, value in _leaves(body):
            name = _dotted(path)
            if isinstance(value, str):
                for label, bad in UNSTORABLE.items():
                    spoiled = _set(body, path, value + bad)
                    yield _case(base, f"{label} in {name}", _json(spoiled), ("body", name))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                for label, raw in UNNUMBERS.items():
                    # A number too long to convert fails in the JSON parser: no field to name.
                    names = ("body", name) if label not in ("5000 digits", "10^20") else None
                    yield _case(
                        base, f"{label} as {name}", _with_raw_number(body, path, raw), names
                    )
        deep: Any = "x"
        for _ in range(MAX_JSON_DEPTH + 1):
            deep = [deep]
        yield _case(base, "nested too deep", _json(body | {"notes": deep}), ("body", "body"))
        yield _case(base, "nested 100 000 deep", b"[" * 100_000 + b"]" * 100_000, ("body", "body"))
        yield _case(base, "not JSON", b'{"name": ')
        yield _case(base, "not UTF-8", b'{"name": "\xff\xfe"}')
        yield _case(base, "an array", b"[]", ("body", "body"))
        yield _case(base, "an unknown field with an unstorable name", _json(body | {"a\ud800": 1}))


def _import_cases(operation: dict[str, Any], record: dict[str, Any]) -> Iterator[Case]:
    """The import's JSON body: a record's text made unstorable (named by its line, as in
    NDJSON), the body nested too deep, not JSON, not UTF-8, neither records nor an array."""
    base = Case(
        "POST /v1/import",
        "POST",
        "/v1/import",
        query=_required_query(operation),
        headers={"Content-Type": "application/json"},
    )

    def imported(value: dict[str, Any]) -> bytes:
        return _json({"records": [{"type": "organization", "record": value}]})

    for path, value in _leaves(record):
        if isinstance(value, str):
            name = _dotted(path)
            for label, bad in UNSTORABLE.items():
                spoiled = imported(_set(record, path, value + bad))
                yield _case(base, f"{label} in {name}", spoiled, ("body", f"line 1: record.{name}"))
    deep: Any = "x"
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]
    yield _case(base, "nested too deep", imported(record | {"notes": deep}), ("body", "body"))
    yield _case(base, "nested 100 000 deep", b"[" * 100_000 + b"]" * 100_000, ("body", "body"))
    yield _case(base, "not JSON", b'{"records": ', ("body", "body"))
    yield _case(base, "not UTF-8", b'{"records": "\xff\xfe"}', ("body", "body"))
    yield _case(base, "neither records nor an array", b'{"name": "x"}', ("body", "body"))


def query_cases(document: dict[str, Any]) -> Iterator[Case]:
    """Each query parameter holding NUL; each repeatable free-text filter given empty."""
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            params = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            required = _required_query(operation)
            path = _path_values(template)
            for param in params:
                name = param["name"]
                others = [(n, v) for n, v in required if n != name]
                yield Case(
                    f"{method.upper()} {template}: NUL in {name}",
                    method.upper(),
                    template,
                    path,
                    [*others, (name, "a\x00b")],
                    names=("query", name),
                )
                schema = param.get("schema", {})
                items = schema.get("items", {})
                free_text = items.get("type") == "string" and "enum" not in items
                if schema.get("type") == "array" and free_text:
                    yield Case(
                        f"{method.upper()} {template}: empty {name}",
                        method.upper(),
                        template,
                        path,
                        [*others, (name, "")],
                        names=("query", name),
                    )


def header_and_url_cases(document: dict[str, Any]) -> Iterator[Case]:
    """Every operation: an over-long URL, over-large headers, NUL in each header it declares
    (FastAPI's own or the document's), and an id holding what no record's id holds."""
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {template}"
            path = _path_values(template)
            yield Case(
                f"{label}: URL too long",
                method.upper(),
                template,
                path,
                [("q", "x" * MAX_URL_BYTES)],
                status=414,
            )
            yield Case(
                f"{label}: headers too large",
                method.upper(),
                template,
                path,
                headers={"X-Padding": "x" * MAX_HEADER_BYTES},
                status=431,
            )
            for param in operation.get("parameters", []):
                if param["in"] == "header":
                    yield Case(
                        f"{label}: NUL in {param['name']}",
                        method.upper(),
                        template,
                        path,
                        _required_query(operation),
                        {param["name"]: "a\x00b"},
                        names=("header", param["name"].lower()),
                    )
            for odd in ("a%00b", "%ED%A0%80", "a" * 500):
                if path:
                    yield Case(
                        f"{label}: id {odd[:10]}",
                        method.upper(),
                        template,
                        {name: odd if name != "revision" else "1" for name in path},
                        _required_query(operation),
                        {"Content-Type": "application/json"} | _required_headers(operation),
                        b"{}" if "requestBody" in operation else None,
                    )


def assert_problem(case: Case, response: httpx.Response, document: dict[str, Any]) -> None:
    where = f"{case.label}: {response.status_code} {response.text[:300]}"
    assert 400 <= response.status_code < 500, where
    if case.status is not None:
        assert response.status_code == case.status, where
    declared = document["paths"][case.template][case.method.lower()]["responses"]
    assert str(response.status_code) in declared, f"{where} (not declared)"
    assert response.headers["content-type"] == PROBLEM_JSON, where
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys(), where
    assert problem["status"] == response.status_code, where
    assert problem["type"].startswith("urn:testimony-api:problem:"), where
    if case.names is not None:
        location, name = case.names
        named = {e["name"] for e in problem.get("errors", []) if e["location"] == location}
        assert named & _names(name), where


@pytest.fixture
async def writer(session: AsyncSession) -> dict[str, str]:
    return await factories.api_key(session, "read:confidential", "write", "admin")


async def _send(client: httpx.AsyncClient, case: Case, key: dict[str, str]) -> httpx.Response:
    return await client.request(
        case.method,
        case.url,
        params=case.query,
        headers=key | case.headers,
        content=case.content,
    )


async def test_every_body_refuses_what_cannot_be_stored_or_parsed(
    app: FastAPI, client: httpx.AsyncClient, writer: dict[str, str], seed: SeedData
) -> None:
    document = _document(app)
    cases = list(body_cases(document, seed))
    walked = {(c.method, c.template) for c in cases}
    assert walked == {(method, template) for method, template, _ in _body_operations(document)}
    assert len(walked) == 11  # create and update of five kinds, and the import
    for case in cases:
        assert_problem(case, await _send(client, case, writer), document)


async def test_every_query_parameter_refuses_nul_and_empty_ids(
    app: FastAPI, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    document = _document(app)
    cases = list(query_cases(document))
    assert any(c.label.endswith("empty facility") for c in cases)
    for case in cases:
        assert_problem(case, await _send(client, case, writer), document)


async def test_every_operation_refuses_long_urls_large_headers_and_odd_ids(
    app: FastAPI, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    document = _document(app)
    for case in header_and_url_cases(document):
        assert_problem(case, await _send(client, case, writer), document)


@pytest.fixture
async def small(database_url: URL, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose body limits are small."""
    limited = create_app(
        app_settings(database_url, body_max_bytes=SMALL_BODY, import_max_bytes=SMALL_BODY)
    )

    async def test_session() -> AsyncIterator[AsyncSession]:
        yield session

    limited.dependency_overrides[get_session] = test_session
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_every_body_over_the_limit_is_413(
    app: FastAPI, small: httpx.AsyncClient, writer: dict[str, str], seed: SeedData
) -> None:
    document = _document(app)
    operations = [
        (method.upper(), template, operation)
        for template, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert ("POST", "/v1/import") in {(method, template) for method, template, _ in operations}
    for method, template, operation in operations:
        for media_type, content in itertools.product(
            operation["requestBody"]["content"],
            (b'{"name": "' + b"x" * SMALL_BODY + b'"}', b"x" * SMALL_BODY * 10),
        ):
            case = Case(
                f"{method} {template}: body too large",
                method,
                template,
                _path_values(template),
                _required_query(operation),
                {"Content-Type": media_type} | _required_headers(operation),
                content,
                status=413,
            )
            assert_problem(case, await _send(small, case, writer), document)
    # Streamed without a length, too.
    chunks = iter([b"x" * SMALL_BODY, b"x" * SMALL_BODY])

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    response = await small.post(
        "/v1/organizations", content=stream(), headers=writer | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text


def ndjson_cases(seed: SeedData) -> Iterator[tuple[str, bytes, str | None]]:
    """Import lines that can never be imported, and the field each error must name."""
    for plural, body in bodies(seed).items():
        kind = KINDS[plural]
        for path, value in _leaves(body):
            if isinstance(value, str):
                for label, bad in UNSTORABLE.items():
                    line = {"type": kind, "record": _set(body, path, value + bad)}
                    name = f"line 1: record.{_dotted(path)}"
                    yield f"{label} in {kind} {_dotted(path)}", _json(line), name
    line: Any = {"type": "organization", "record": {"id": "x", "name": "x", "kind": "ngo"}}
    deep: Any = "x"
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    yield (
        "nested too deep",
        _json(line | {"record": line["record"] | {"notes": deep}}),
        "line 1: line",
    )
    yield "nested 100 000 deep", b"[" * 100_000 + b"]" * 100_000, "line 1: line"
    yield (
        "5000 digits",
        b'{"type": "claim", "record": {"value": ' + b"9" * 5000 + b"}}",
        "line 1: line",
    )
    yield "NaN", b'{"type": "claim", "record": {"id": "x", "value": NaN}}', None


async def test_every_import_line_refuses_what_cannot_be_stored_or_parsed(
    app: FastAPI, client: httpx.AsyncClient, writer: dict[str, str], seed: SeedData
) -> None:
    document = _document(app)
    headers = {"Content-Type": "application/x-ndjson"}
    for label, line, name in ndjson_cases(seed):
        case = Case(
            f"import: {label}",
            "POST",
            "/v1/import",
            headers=headers,
            content=line + b"\n",
            names=("body", name) if name else None,
        )
        assert_problem(case, await _send(client, case, writer), document)


async def test_an_import_line_may_hold_line_separators_inside_its_strings(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    record = {"id": "separated", "name": "A\u2028B\x0cC\x85D", "kind": "ngo"}
    line = json.dumps({"type": "organization", "record": record}, ensure_ascii=False)
    response = await client.post(
        "/v1/import",
        content=line.encode() + b"\r\n",
        headers=writer | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == {"organizations": 1}


async def test_the_depth_limit_is_inclusive(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    """A body nested exactly to the limit is parsed (and refused only by its schema)."""
    nested: Any = "x"
    for _ in range(MAX_JSON_DEPTH - 1):
        nested = [nested]
    at_limit = await client.post(
        "/v1/organizations", json={"id": "deep", "name": nested, "kind": "ngo"}, headers=writer
    )
    assert at_limit.status_code == 422
    assert at_limit.json()["type"] == "urn:testimony-api:problem:validation-error"
    over = await client.post(
        "/v1/organizations", json={"id": "deep", "name": [nested], "kind": "ngo"}, headers=writer
    )
    assert over.status_code == 422
    assert over.json()["type"] == "urn:testimony-api:problem:too-deep"


# --- On a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(database_url: URL) -> Iterator[tuple[str, int]]:
    """The app served by uvicorn as `testimony serve` runs it, on a free port."""
    app = create_app(app_settings(database_url), pooled=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **SERVER_OPTIONS)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    (listening,) = running.servers[0].sockets
    yield listening.getsockname()[:2]
    running.should_exit = True
    thread.join(10)


def _exchange(connection: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request on an open connection and read its answer."""
    connection.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        body += connection.recv(65536)
    return int(status_line.split()[1]), headers, body


def _request(method: str, target: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: testserver", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_real_server_answers_the_limits_itself_and_keeps_the_connection(
    server: tuple[str, int],
) -> None:
    deep = b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with socket.create_connection(server, timeout=10) as connection:
        for request, status in [
            (_request("GET", "/healthz?q=" + "x" * (2 * MAX_URL_BYTES)), 414),
            (_request("GET", "/healthz", X_Padding="x" * (2 * MAX_HEADER_BYTES)), 431),
            (_request("POST", "/v1/organizations", deep, Content_Type="application/json"), 422),
            (_request("GET", "/healthz"), 200),
        ]:
            answer, headers, body = _exchange(connection, request)
            assert answer == status, body[:300]
            assert headers.get("connection") != "close"
            if status != 200:
                assert headers["content-type"] == PROBLEM_JSON
                assert json.loads(body)["status"] == status
