"""/docs and /redoc work offline: every asset they name is served by the app itself, and
the pages name no other host."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from bs4 import BeautifulSoup
from fastapi import FastAPI
from sqlalchemy.engine import URL

from app.main import create_app
from tests.conftest import app_settings

EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
}


def referenced_urls(html: str) -> list[str]:
    """The URLs a page loads: scripts, stylesheets and icons, images."""
    page = BeautifulSoup(html, "html.parser")
    urls = [tag["src"] for tag in page.find_all(["script", "img"]) if tag.get("src")]
    urls += [tag["href"] for tag in page.find_all("link") if tag.get("href")]
    return [str(url) for url in urls]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_a_docs_page_loads_only_from_the_app(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = referenced_urls(response.text)
    assert len(urls) >= 2  # the script and the icon at least
    for url in urls:
        absolute = urljoin(str(response.url), url)
        assert urlsplit(absolute).netloc == "testserver", url
        asset = await client.get(absolute)
        assert asset.status_code == 200, url
        suffix = os.path.splitext(urlsplit(absolute).path)[1]
        assert asset.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), url
        assert len(asset.content) > 100
    # No other host anywhere in the page: no CDN, no fonts, no validator badge.
    assert "://" not in response.text
    assert "fonts.googleapis" not in response.text


async def test_the_pages_name_the_document_the_app_serves(client: httpx.AsyncClient) -> None:
    docs = (await client.get("/docs")).text
    assert "url: '/openapi.json'" in docs
    assert '"validatorUrl": null' in docs
    redoc = BeautifulSoup((await client.get("/redoc")).text, "html.parser")
    assert redoc.find("redoc")["spec-url"] == "/openapi.json"  # type: ignore[index]
    assert (await client.get("/openapi.json")).status_code == 200


async def test_the_docs_stay_out_of_the_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/docs", "/redoc", "/metrics"} & set(paths)


# --- In a real browser -------------------------------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(database_url: URL) -> Iterator[str]:
    """The app served by uvicorn on a loopback port, in a thread, for as long as the test."""
    app: FastAPI = create_app(app_settings(database_url))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        # Swagger UI drew the document: its title block and an operation.
        ("/docs", ['class="swagger-ui"', "opblock-summary", "testimony-api"]),
        # ReDoc drew it: the API's title and an operation's heading.
        ("/redoc", ["testimony-api", "api-content", "operation/list_claims"]),
    ],
)
def test_the_docs_render_in_a_browser_without_a_network(
    served: str, page: str, rendered: list[str]
) -> None:
    browser = _chromium()
    assert browser is not None
    # Every host but the app's resolves to nothing: a page that needed one would not render.
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=20000",
            "--dump-dom",
            served + page,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for fragment in rendered:
        assert fragment in dom, fragment
