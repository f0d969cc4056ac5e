"""The interactive documentation, /docs (Swagger UI) and /redoc (ReDoc), served whole by the
app: scripts, styles and icon come from the `fastapi-offline` package, which ships builds of
both, and no font is fetched from elsewhere. The pages work without a network, and tell no
other host who reads them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")


def install_docs(app: FastAPI) -> None:
    """Mount the assets and add the two pages; the app must be made with docs_url=None and
    redoc_url=None."""
    app.mount(ASSETS, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    def under_root(request: Request, path: str) -> str:
        return str(request.scope.get("root_path", "")) + path

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=under_root(request, app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=under_root(request, f"{ASSETS}/swagger-ui-bundle.js"),
            swagger_css_url=under_root(request, f"{ASSETS}/swagger-ui.css"),
            swagger_favicon_url=under_root(request, f"{ASSETS}/favicon.png"),
            # The validator badge would send the document's URL to a public validator.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=under_root(request, app.openapi_url or "/openapi.json"),
            title=f"{app.title} - ReDoc",
            redoc_js_url=under_root(request, f"{ASSETS}/redoc.standalone.js"),
            redoc_favicon_url=under_root(request, f"{ASSETS}/favicon.png"),
            with_google_fonts=False,
        )
