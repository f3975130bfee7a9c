"""The Registry as the command line uses it: `dhg_contract.client.RegistryClient`, whose errors come out as dhg's
one-line errors (RegistryUnreachable, RegistryRefused)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from dhg.errors import RegistryRefused, RegistryUnreachable
from dhg_contract.client import RegistryAPIError, RegistryClient

HINTS = {
    401: "pass a valid token with --token or DHG_TOKEN, or the --data-dir `dhg up` runs with",
}
FIRST_LINE_CHARACTERS = 200


def _status_line(status: int, title: str | None, detail: str, hints: dict[int, str]) -> str:
    """`<status> <title>: <detail> (<hint>)`; the title defaults to the status's reason phrase."""
    title = title or httpx.codes.get_reason_phrase(status) or "Error"
    text = f"{title}: {detail}" if detail and detail != title else title
    hint = hints.get(status)
    return f"{status} {text}" + (f" ({hint})" if hint else "")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def problem_message(response: httpx.Response, hints: dict[int, str] = HINTS) -> str:
    """`<status> <title>: <detail>` from an RFC 9457 problem, or the start of whatever body came back."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        return _status_line(response.status_code, body.get("title"), body.get("detail") or "", hints)
    return _status_line(response.status_code, _first_line(response.text)[:FIRST_LINE_CHARACTERS], "", hints)


def one_line_error(error: RegistryAPIError, url: str) -> RegistryUnreachable | RegistryRefused:
    """dhg's error for a failed call to the Registry at `url`: unreachable (no status), or refused."""
    if error.status is None:
        cause = error.__cause__
        if isinstance(cause, httpx.ConnectError):
            return RegistryUnreachable(f"the Registry at {url} is not reachable (is `dhg up` running?)")
        if isinstance(cause, httpx.TimeoutException):
            return RegistryUnreachable(f"the Registry at {url} did not answer in time")
        return RegistryUnreachable(f"talking to the Registry at {url} failed: {cause or error}")
    title, detail = error.problem.get("title"), _first_line(str(error.problem.get("detail") or ""))
    line = _status_line(error.status, str(title) if title else None, detail, HINTS)
    return RegistryRefused(f"{error.request}: {line}", error.status, error.retry_after)


@contextmanager
def one_line_errors(url: str) -> Iterator[None]:
    """Inside, a RegistryAPIError from the Registry at `url` comes out as dhg's one-line error."""
    try:
        yield
    except RegistryAPIError as error:
        raise one_line_error(error, url) from error


@contextmanager
def registry_client(url: str, token: str | None = None, *, timeout: float) -> Iterator[RegistryClient]:
    """The Registry's client for `url`, closed at the end; its errors inside come out as one-line errors."""
    with RegistryClient(url, token, timeout=timeout) as client, one_line_errors(url):
        yield client
