"""Headless Chromium from Debian's package, driven by Playwright (no browser download), with every request to a
host other than the service under test failed on purpose and recorded; axe-core's rules run in the page."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Route, sync_playwright

REPOSITORY = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium (the Makefile's system packages)
AXE = REPOSITORY / ".tools" / "axe-core" / "axe.min.js"  # `make tools` unpacks it from the npm registry
ARTIFACTS = REPOSITORY / "build" / "test-artifacts" / "browser"
# Without the background-networking switches Chromium reaches for Google's hosts at start; the resolver rule is a
# second wall behind the per-request routing below: no name but 127.0.0.1's resolves.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
# Collects the page's Content-Security-Policy violations, which a policy reports only to the page itself.
CSP_WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@dataclass
class Visit:
    """One browser context limited to `origin`: what it tried to fetch elsewhere, and what the page logged."""

    page: Page
    origin: str
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        return list(self.page.evaluate("window.__violations || []"))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def accessibility_violations(self, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
        """axe-core's WCAG 2.x A/AA violations of these impacts, on the page as it is now."""
        result = self.page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        )
        return [
            {"id": item["id"], "impact": item["impact"], "nodes": [node["target"] for node in item["nodes"]][:5]}
            for item in result["violations"]
            if item["impact"] in impacts
        ]

    def assert_offline_clean(self) -> None:
        """Nothing was asked of another host, and the page's policy blocked nothing it needed."""
        assert self.blocked == [], f"requests to other hosts: {self.blocked}"
        assert self.violations() == [], f"Content-Security-Policy violations: {self.violations()}"


@contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: `make tools` unpacks axe-core from the npm registry")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def visit(
    browser: Browser,
    origin: str,
    *,
    viewport: dict[str, int] = DESKTOP,
    also: tuple[str, ...] = (),
    permissions: tuple[str, ...] = (),
) -> Iterator[Visit]:
    """A fresh context (no storage shared with other visits) where only `origin` (and the origins `also` names) can be
    reached."""
    context = browser.new_context(
        viewport=viewport, accept_downloads=True, service_workers="block", permissions=list(permissions)
    )
    page = context.new_page()
    current = Visit(page, origin)
    allowed = {urlsplit(address).netloc for address in (origin, *also)}

    def guard(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc not in allowed:
            current.blocked.append(route.request.url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    context.route("**/*", guard)
    context.add_init_script(CSP_WATCH)
    # As an init script axe-core is in every page without a <script> of its own (the pages' policy allows none).
    context.add_init_script(path=AXE)
    page.on("console", lambda message: message.type == "error" and current.console_errors.append(message.text))
    page.on("pageerror", lambda error: current.console_errors.append(f"uncaught: {error}"))
    try:
        yield current
    finally:
        context.close()


def axe_report(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=1)


class CountingProxy:
    """A TCP proxy on loopback in front of a local server: it records each request's line and Range header, and counts
    the response bytes that reached the browser on connections that asked for an asset's content (so a test sees
    what a media element really fetched, aborted transfers included)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[tuple[str, str | None]] = []  # (request line, Range header or None)
        self.content_bytes = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            media = threading.Event()
            threading.Thread(target=self._requests, args=(client, upstream, media), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, client, media), daemon=True).start()

    def _requests(self, source: socket.socket, target: socket.socket, media: threading.Event) -> None:
        pending = b""
        for data in _chunks(source, target):
            pending += data
            while b"\r\n\r\n" in pending:
                head, pending = pending.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                ranges = [line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("range:")]
                with self._lock:
                    self.requests.append((lines[0], ranges[0] if ranges else None))
                if "/content?" in lines[0]:
                    media.set()

    def _responses(self, source: socket.socket, target: socket.socket, media: threading.Event) -> None:
        for data in _chunks(source, target):
            if media.is_set():
                with self._lock:
                    self.content_bytes += len(data)

    def close(self) -> None:
        self.listener.close()


def _chunks(source: socket.socket, target: socket.socket) -> Iterator[bytes]:
    """What arrives on `source`, each piece after it was passed on to `target`; both closed at the end."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
            yield data
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
