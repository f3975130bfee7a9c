"""API documentation that works offline: Swagger UI and ReDoc served from assets installed with the package
(the pinned `fastapi-offline` wheel bundles them), never a CDN, under a Content-Security-Policy that says so.

Both services call `install_api_docs(app)` on an app made with `docs_url=None, redoc_url=None`. The pages carry no
inline script (the initialisers are files in dhg_core/static/), so the policy needs no 'unsafe-inline' for scripts.
"""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"

# Swagger UI and ReDoc set inline styles (ReDoc's styled-components insert <style> elements), and ReDoc runs its
# search index in a worker made from a blob: URL. Nothing may be fetched from another host.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

REDOC_BUNDLE = "redoc.standalone.js"
# ReDoc 2 shows its maker's logo from cdn.redoc.ly in the menu's "API docs by Redocly" credit whatever its options
# say: served pointing at the bundled icon instead (relative to /redoc), the page asks nothing of another host.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_LOGO_HERE = b"docs/assets/favicon.png"

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API: Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<main id="swagger-ui" data-openapi-url="{openapi}"></main>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API: ReDoc</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def security_headers(policy: str) -> dict[str, str]:
    """What every page and asset served to a browser carries: its policy, no sniffing, no referrer, no framing."""
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def page(document: str, policy: str) -> HTMLResponse:
    """An HTML page under `policy`, revalidated on every load (it names the assets of the running version)."""
    return HTMLResponse(document, headers={**security_headers(policy), "Cache-Control": "no-cache"})


class BrowserAssets(StaticFiles):
    """Static files for a browser, each with the security headers of the pages that load them."""

    def __init__(self, *, policy: str, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.headers = security_headers(policy)

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(self.headers)
        response.headers["Cache-Control"] = "no-cache"
        return response


@cache
def redoc_bundle() -> tuple[bytes, str]:
    """The bundled ReDoc with its one hard-wired CDN address pointed here, and its ETag."""
    source = (files("fastapi_offline") / "static" / REDOC_BUNDLE).read_bytes().replace(REDOC_LOGO, REDOC_LOGO_HERE)
    return source, '"' + hashlib.sha256(source).hexdigest()[:32] + '"'


def render(template: str, values: Mapping[str, str]) -> str:
    return template.format(**{name: html.escape(value, quote=True) for name, value in values.items()})


def install_api_docs(app: FastAPI) -> None:
    """Serve `/docs` (Swagger UI) and `/redoc` (ReDoc) for `app`'s OpenAPI document from the bundled assets."""
    if app.docs_url or app.redoc_url:
        raise ValueError("create the app with docs_url=None and redoc_url=None: these pages replace FastAPI's")
    openapi_url = app.openapi_url or "/openapi.json"

    def values(request: Request) -> dict[str, str]:
        root = request.scope.get("root_path", "").rstrip("/")
        return {"title": app.title, "assets": root + ASSETS_PATH, "openapi": root + openapi_url}

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(render(SWAGGER_PAGE, values(request)), DOCS_POLICY)

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(render(REDOC_PAGE, values(request)), DOCS_POLICY)

    @app.get(f"{ASSETS_PATH}/{REDOC_BUNDLE}", include_in_schema=False)
    async def redoc_script(request: Request) -> Response:
        source, etag = redoc_bundle()
        headers = {**security_headers(DOCS_POLICY), "Cache-Control": "no-cache", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(source, media_type="text/javascript", headers=headers)

    app.mount(  # after the routes above: a mount takes every path under it
        ASSETS_PATH,
        BrowserAssets(policy=DOCS_POLICY, packages=[("fastapi_offline", "static"), ("dhg_core", "static")]),
        name="api-docs-assets",
    )
