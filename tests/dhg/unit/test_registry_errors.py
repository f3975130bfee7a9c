"""The Registry client's errors as the command line reports them: one line, unreachable or refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from dhg.api import one_line_errors, problem_message
from dhg.errors import RegistryRefused, RegistryUnreachable
from dhg_contract.client import RegistryClient

URL = "http://registry.test"
PROBLEM = {"type": "https://dhg.ai/problems/unauthorized", "title": "Unauthorized", "detail": "Unknown token."}


def failing_call(handler: Callable[[httpx.Request], httpx.Response]) -> Exception:
    """What `dhg` reports for a search against a Registry that answers with `handler`."""
    client = RegistryClient(URL, "t", transport=httpx.MockTransport(handler))
    with client, pytest.raises(Exception) as caught, one_line_errors(URL):
        client.search("x")
    return caught.value


def test_a_problem_is_one_line_with_the_call_status_title_detail_and_hint() -> None:
    answer = httpx.Response(401, json=PROBLEM)
    error = failing_call(lambda request: answer)
    assert isinstance(error, RegistryRefused) and error.status == 401 and error.retry_after is None
    assert str(error) == f"GET /v1/search: {problem_message(answer)}"
    assert str(error).startswith("GET /v1/search: 401 Unauthorized: Unknown token. (pass a valid token")


def test_a_refusal_that_will_pass_keeps_its_retry_after() -> None:
    problem = {"title": "Service Unavailable", "detail": "The model is loading."}
    error = failing_call(lambda request: httpx.Response(503, json=problem, headers={"Retry-After": "2"}))
    assert isinstance(error, RegistryRefused) and (error.status, error.retry_after) == (503, 2.0)


def test_a_body_that_is_not_a_problem_shows_its_first_line() -> None:
    error = failing_call(lambda request: httpx.Response(502, text="upstream down\n<html>...</html>"))
    assert str(error) == "GET /v1/search: 502 Bad Gateway: upstream down"


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (httpx.ConnectError, f"the Registry at {URL} is not reachable (is `dhg up` running?)"),
        (httpx.ReadTimeout, f"the Registry at {URL} did not answer in time"),
        (httpx.RemoteProtocolError, f"talking to the Registry at {URL} failed: broken"),
    ],
)
def test_no_answer_is_unreachable(failure: type[httpx.TransportError], says: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure("broken", request=request)

    error = failing_call(handler)
    assert isinstance(error, RegistryUnreachable) and str(error) == says


def test_errors_outside_the_registry_pass_unchanged() -> None:
    with pytest.raises(KeyError), one_line_errors(URL):
        raise KeyError(str(uuid.uuid4()))
