"""The transcript viewer at /ui/: a read-only page of the Registry's own API (registry/ui/), served from the package
under a Content-Security-Policy that allows nothing from another host and no inline script or style."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse

from core.apidocs import BrowserAssets, page

VIEWER_PATH = "/ui"
VIEWER_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def install_viewer(app: FastAPI) -> None:
    """`/ui/` (the page; `/ui` redirects there so that its relative links work under any prefix) and `/ui/assets/`."""
    document = (files("registry") / "ui" / "index.html").read_text(encoding="utf-8")

    @app.get(VIEWER_PATH, include_in_schema=False)
    async def viewer_redirect(request: Request) -> RedirectResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{root}{VIEWER_PATH}/", status_code=308)

    @app.get(f"{VIEWER_PATH}/", include_in_schema=False)
    async def viewer() -> HTMLResponse:
        return page(document, VIEWER_POLICY)

    app.mount(
        f"{VIEWER_PATH}/assets",
        BrowserAssets(policy=VIEWER_POLICY, packages=[("registry", "ui")]),
        name="viewer-assets",
    )
