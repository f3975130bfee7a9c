"""The transcript viewer at /ui/: a read-only page of the Registry's own API (registry/ui/), served from the package
under a Content-Security-Policy that allows nothing from another host and no inline script or style. The vocabulary
it shares with the API (the job phases) is a module written from dhg_core/vocabulary.py, `/ui/assets/vocabulary.js`."""

from __future__ import annotations

import json
from importlib.resources import files
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dhg_core.apidocs import BrowserAssets, page, security_headers
from dhg_core.vocabulary import PHASES

VIEWER_PATH = "/ui"
VIEWER_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def viewer_policy(asr_url: str | None) -> str:
    """The viewer's policy; with the ASR service elsewhere (its own port in local mode), its WebSocket may be
    opened too (connect-src: that origin's ws: or wss:, nothing else of it)."""
    if not asr_url:
        return VIEWER_POLICY
    parts = urlsplit(asr_url)
    socket = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return VIEWER_POLICY.replace("connect-src 'self'", f"connect-src 'self' {socket}")


def config_module(asr_url: str | None) -> str:
    """The JavaScript module of what the viewer is told about where it runs."""
    return (
        "// Written by the Registry from its settings (registry/viewer.py): where the ASR service is for browsers.\n"
        f"export const ASR_URL = {json.dumps(asr_url or '')};\n"
    )


def vocabulary_module() -> str:
    """The JavaScript module of the vocabulary the viewer shares with the API."""
    return (
        "// Written by the Registry from dhg_core/vocabulary.py (registry/viewer.py): the API's own words.\n"
        f"export const PHASES = Object.freeze({json.dumps(list(PHASES))});\n"
    )


def install_viewer(app: FastAPI, asr_url: str | None = None) -> None:
    """`/ui/` (the page; `/ui` redirects there so that its relative links work under any prefix) and `/ui/assets/`."""
    document = (files("registry") / "ui" / "index.html").read_text(encoding="utf-8")
    policy = viewer_policy(asr_url)

    @app.get(VIEWER_PATH, include_in_schema=False)
    async def viewer_redirect(request: Request) -> RedirectResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{root}{VIEWER_PATH}/", status_code=308)

    @app.get(f"{VIEWER_PATH}/", include_in_schema=False)
    async def viewer() -> HTMLResponse:
        return page(document, policy)

    vocabulary = vocabulary_module()

    @app.get(f"{VIEWER_PATH}/assets/vocabulary.js", include_in_schema=False)
    async def viewer_vocabulary() -> Response:
        headers = {**security_headers(policy), "Cache-Control": "no-cache"}
        return Response(vocabulary, media_type="text/javascript", headers=headers)

    config = config_module(asr_url)

    @app.get(f"{VIEWER_PATH}/assets/config.js", include_in_schema=False)
    async def viewer_config() -> Response:
        headers = {**security_headers(policy), "Cache-Control": "no-cache"}
        return Response(config, media_type="text/javascript", headers=headers)

    app.mount(
        f"{VIEWER_PATH}/assets",
        BrowserAssets(policy=policy, packages=[("registry", "ui")]),
        name="viewer-assets",
    )
