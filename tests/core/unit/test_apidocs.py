"""The API documentation pages of both services, over HTTP: everything they load is served here, under a policy
that forbids other hosts and inline scripts (tests/browser renders them in Chromium)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from asr.app import create_app as create_asr_app
from asr.settings import Settings as AsrSettings
from dhg_core.apidocs import REDOC_LOGO, install_api_docs
from registry.app import create_app as create_registry_app
from registry.settings import Settings as RegistrySettings

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.fixture(params=["registry", "asr"])
def client(request: pytest.FixtureRequest) -> TestClient:
    if request.param == "registry":
        return TestClient(create_registry_app(RegistrySettings(database_url="postgresql://nobody@127.0.0.1:1/none")))
    return TestClient(create_asr_app(AsrSettings()))


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_only_what_the_service_serves(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    rules = policy(page.headers["content-security-policy"])
    assert rules["default-src"] == ["'none'"]
    assert rules["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    assert rules["connect-src"] == ["'self'"] and rules["img-src"] == ["'self'", "data:"]
    assert rules["frame-ancestors"] == ["'none'"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in page.text and "https://" not in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "an inline script"
    for url in ASSET.findall(page.text):
        served = client.get(url)
        assert served.status_code == 200, url
        assert served.headers["content-security-policy"] == page.headers["content-security-policy"]


def test_the_served_redoc_fetches_no_logo_from_its_cdn(client: TestClient) -> None:
    served = client.get("/docs/assets/redoc.standalone.js")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert REDOC_LOGO not in served.content and b"Redoc" in served.content
    again = client.get("/docs/assets/redoc.standalone.js", headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_pages_follow_the_prefix_they_are_served_under() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    install_api_docs(app)
    page = TestClient(app, root_path="/registry").get("/docs")
    assert 'href="/registry/docs/assets/swagger-ui.css"' in page.text
    assert 'data-openapi-url="/registry/openapi.json"' in page.text


def test_the_framework_s_cdn_pages_are_refused() -> None:
    with pytest.raises(ValueError, match="docs_url=None"):
        install_api_docs(FastAPI())
