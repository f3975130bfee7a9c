"""Every route in the OpenAPI document refuses a missing, unknown, revoked or under-scoped token."""

import re
import uuid

import pytest

from tests.conftest import make_token

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
LOWER_SCOPES = {"read": [], "write": ["read"], "admin": ["read", "write"]}


def operations(client):
    document = client.get("/openapi.json").json()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def concrete(path):
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def call(client, method, path):
    kwargs = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
    return client.request(method, concrete(path), **kwargs)


def test_the_openapi_document_lists_every_route_and_each_one_declares_its_scope(admin):
    found = list(operations(admin))
    assert len(found) >= 25
    for method, path, operation in found:
        if (method, path) in PUBLIC:
            assert "x-required-scope" not in operation
            continue
        assert operation.get("x-required-scope") in ("read", "write", "admin"), (method, path)
        assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
        if method != "GET":
            assert operation["x-required-scope"] in ("write", "admin"), f"{method} {path} mutates with read scope"


def test_every_route_refuses_missing_unknown_and_revoked_tokens(registry, admin):
    revoked = make_token(admin, "admin", name="soon-revoked")
    token_id = next(
        t["id"] for t in admin.get("/v1/tokens", params={"limit": 500}).json()["items"] if t["name"] == "soon-revoked"
    )
    assert admin.delete(f"/v1/tokens/{token_id}").status_code == 200
    checked = 0
    for method, path, _ in operations(admin):
        if (method, path) in PUBLIC:
            continue
        for token in (None, "dhg_not-a-real-token", revoked):
            with registry.client(token) as client:
                response = call(client, method, path)
            assert response.status_code == 401, (method, path, token, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("/unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked == 3 * sum(1 for m, p, _ in operations(admin) if (m, p) not in PUBLIC) >= 70


def test_every_route_refuses_a_token_with_a_lower_scope(registry, admin):
    tokens = {scope: make_token(admin, scope, name=f"scope-{scope}") for scope in ("read", "write")}
    checked = 0
    for method, path, operation in operations(admin):
        if (method, path) in PUBLIC:
            continue
        for lower in LOWER_SCOPES[operation["x-required-scope"]]:
            with registry.client(tokens[lower]) as client:
                response = call(client, method, path)
            assert response.status_code == 403, (method, path, lower, response.text)
            assert response.json()["type"].endswith("/forbidden")
            checked += 1
    assert checked >= 20


def test_refused_calls_are_audited_with_the_actor_and_outcome(registry, admin):
    reader_token = make_token(admin, "read", name="audited-reader")
    request_id = f"refused-{uuid.uuid4().hex}"
    with registry.client(reader_token) as client:
        response = client.post("/v1/jobs", json={"source": {"path": "/x.wav"}}, headers={"X-Request-ID": request_id})
    assert response.status_code == 403
    assert response.headers["x-request-id"] == request_id
    entries = admin.get("/v1/audit", params={"outcome": "refused", "limit": 500}).json()["items"]
    entry = next(e for e in entries if e["request_id"] == request_id)
    assert entry["actor"] == "token:audited-reader"
    assert entry["action"] == "job.create" and entry["status_code"] == 403 and entry["method"] == "POST"

    anonymous_id = f"anon-{uuid.uuid4().hex}"
    with registry.client() as client:
        assert client.get("/v1/transcripts", headers={"X-Request-ID": anonymous_id}).status_code == 401
    entries = admin.get("/v1/audit", params={"actor": "anonymous", "limit": 500}).json()["items"]
    assert any(e["request_id"] == anonymous_id and e["outcome"] == "refused" for e in entries)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics/"])
def test_health_and_metrics_are_public(registry, path):
    with registry.client() as client:
        assert client.get(path).status_code == 200
