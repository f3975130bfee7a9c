"""One headless Chromium for the browser tests, and one `dhg up` (the sample transcribed, embeddings on) that they
all look at: the Registry's viewer and docs, the ASR service's docs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from dhg.datadir import read_viewer_token
from tests.browser.support import chromium
from tests.dhg.integration.conftest import ServingStack, serve


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module, not per session: Playwright's sync API holds an event loop on the main thread while it runs,
    and the tests after these call asyncio.run()."""
    with chromium() as started:
        yield started


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    root = tmp_path_factory.mktemp("browser-stack")
    started = serve(root / "data", root / "dhg-up.out", DHG_REGISTRY_EMBEDDINGS="auto")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def viewer_token(stack: ServingStack) -> str:
    token = read_viewer_token(stack.data_dir)
    assert token, "dhg up kept no viewer token"
    return token


@pytest.fixture(scope="module")
def admin(stack: ServingStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.admin_token}"}) as client:
        yield client
