"""The transcript viewer's files and how the Registry serves them (tests/browser drives it in Chromium)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry.app import create_app
from registry.settings import Settings

UI = Path(__file__).resolve().parents[3] / "registry" / "ui"
# Ways to turn text into markup or code: the viewer builds every element with textContent instead.
UNSAFE_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*[\"'`]"
)


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none")), follow_redirects=False)


def test_the_viewer_is_served_under_a_policy_that_allows_only_this_service(client: TestClient) -> None:
    assert client.get("/ui").status_code == 308 and client.get("/ui").headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    header = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self';"):
        assert directive in header
    assert "media-src 'self';" in header and "blob:" not in header and "unsafe" not in header
    for asset in ("viewer.js", "vocabulary.js", "viewer.css", "icon.svg"):
        served = client.get(f"/ui/assets/{asset}")
        assert served.status_code == 200 and served.headers["content-security-policy"] == header


def test_the_live_page_may_reach_the_asr_service_and_nothing_else_of_another_host() -> None:
    """With the ASR service on another address (local mode: its own port), the policy lets the page open its
    WebSocket (that origin's ws: only) and the page is told where it is; unset, the page uses this host."""
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", asr_url="http://127.0.0.1:8001")
    elsewhere = TestClient(create_app(settings))
    header = elsewhere.get("/ui/").headers["content-security-policy"]
    assert "connect-src 'self' ws://127.0.0.1:8001;" in header and "http://127.0.0.1:8001" not in header
    config = elsewhere.get("/ui/assets/config.js")
    assert config.headers["content-type"].startswith("text/javascript")
    assert 'export const ASR_URL = "http://127.0.0.1:8001";' in config.text
    here = TestClient(create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none")))
    assert 'export const ASR_URL = "";' in here.get("/ui/assets/config.js").text
    for bad in ("javascript:alert(1)", "http://a b", "ftp://host"):
        with pytest.raises(ValueError):
            Settings(database_url="postgresql://nobody@127.0.0.1:1/none", asr_url=bad)


def test_the_viewer_gets_the_phases_from_the_apis_own_vocabulary(client: TestClient) -> None:
    """Its filter offers the phases a job can have: the JobOut schema's, served as a module, not a copy in viewer.js."""
    module = client.get("/ui/assets/vocabulary.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    (listed,) = re.findall(r"export const PHASES = Object\.freeze\((\[.*?\])\);", module.text)
    phases = client.get("/openapi.json").json()["components"]["schemas"]["JobOut"]["properties"]["phase"]
    assert json.loads(listed) == phases["enum"]
    viewer = (UI / "viewer.js").read_text(encoding="utf-8")
    assert 'import { PHASES } from "./vocabulary.js";' in viewer and '"Scheduling"' not in viewer


def test_the_viewer_files_name_no_other_host_and_no_markup_sink() -> None:
    for path in UI.iterdir():
        text = re.sub(r'xmlns="http://www\.w3\.org/2000/svg"', "", path.read_text(encoding="utf-8"))
        assert not re.search(r"https?://", text), path.name
    assert not UNSAFE_SINKS.search((UI / "viewer.js").read_text(encoding="utf-8"))


def test_the_viewer_is_not_part_of_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/ui", "/docs", "/redoc"))]
