"""Both services' API documentation in a real browser with every other host unreachable: Swagger UI and ReDoc
render each operation of the service's OpenAPI document from the bundled assets, and their policy blocks nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import Browser

from tests.browser.support import ARTIFACTS, visit
from tests.dhg.integration.conftest import ServingStack

# What each page renders for one operation.
OPERATION = {"docs": "#swagger-ui .opblock", "redoc": "[data-section-id^='operation/']"}
# The rules about the document we write around Swagger UI and ReDoc (their own markup is upstream's: its axe report
# is kept as an artifact, see docs/api-docs.md).
PAGE_RULES = ["document-title", "html-has-lang", "html-lang-valid", "meta-viewport", "meta-refresh"]


def operation_count(url: str) -> int:
    spec = httpx.get(f"{url}/openapi.json").raise_for_status().json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(1 for operations in spec["paths"].values() for method in operations if method in methods)


@pytest.mark.parametrize("service", ["registry", "asr"])
@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_docs_page_renders_every_operation_with_no_other_host(
    browser: Browser, stack: ServingStack, service: str, page: str
) -> None:
    url = stack.url if service == "registry" else stack.asr_url
    expected = operation_count(url)
    with visit(browser, url) as current:
        current.page.goto(f"{url}/{page}")
        current.page.wait_for_function(
            "([selector, count]) => document.querySelectorAll(selector).length >= count",
            arg=[OPERATION[page], expected],
            timeout=30_000,
        )
        assert current.page.locator(OPERATION[page]).count() == expected
        current.screenshot(f"{service}-{page}")
        upstream = current.page.evaluate("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})")[
            "violations"
        ]
        (ARTIFACTS / f"{service}-{page}-axe.json").write_text(json.dumps(upstream, indent=1))
        ours = current.page.evaluate(f"axe.run(document, {{runOnly: {{type: 'rule', values: {PAGE_RULES}}}}})")
        assert ours["violations"] == [], ours["violations"]
        current.assert_offline_clean()
        assert current.console_errors == []


def test_swagger_ui_tries_an_operation_against_the_service_itself(browser: Browser, stack: ServingStack) -> None:
    """ "Try it out" calls the service the page came from (connect-src 'self'), here its unauthenticated /healthz."""
    with visit(browser, stack.url) as current:
        current.page.goto(f"{stack.url}/docs")
        block = current.page.locator("#operations-health-health_live_healthz_get")
        block.locator(".opblock-summary-control").click()
        block.get_by_role("button", name="Try it out").click()
        block.get_by_role("button", name="Execute").click()
        status = block.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=10_000)
        assert status.inner_text().strip() == "200"
        current.assert_offline_clean()
