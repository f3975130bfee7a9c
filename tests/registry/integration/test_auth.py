"""Every route in the OpenAPI document refuses a missing, unknown, revoked or under-scoped token."""

import re
import uuid

import pytest

from tests.conftest import make_token

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
# The scopes that must NOT pass a route needing the key (`ingest` neither reads nor writes beyond its own calls).
LOWER_SCOPES = {
    "read": ["ingest"],
    "ingest": ["read"],
    "write": ["read", "ingest"],
    "admin": ["read", "ingest", "write"],
}


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
        assert operation.get("x-required-scope") in ("read", "ingest", "write", "admin"), (method, path)
        assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
        if method != "GET":
            assert operation["x-required-scope"] != "read", f"{method} {path} mutates with read scope"
    ingest = {(m, p) for m, p, operation in found if operation.get("x-required-scope") == "ingest"}
    # What the factory's services write: transcripts, job records, and the media a result comes from (the ASR
    # service stores a live session's audio with its transcript); never a deletion, a token or a webhook.
    assert ingest == {
        ("POST", "/v1/transcripts"),
        ("POST", "/v1/jobs"),
        ("PATCH", "/v1/jobs/{job_id}"),
        ("POST", "/v1/assets"),
    }


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
    tokens = {scope: make_token(admin, scope, name=f"scope-{scope}") for scope in ("read", "ingest", "write")}
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


def test_service_tokens_from_the_environment_write_and_are_audited_by_name(postgres, tmp_path, monkeypatch):
    """The chart hands the ASR service, the workers and the controller their own write tokens from a Secret
    (DHG_REGISTRY_SERVICE_TOKENS__<NAME>): each writes, none administers, and the audit log names the service."""
    import httpx

    from registry.settings import Settings
    from tests.conftest import start_registry

    monkeypatch.setenv("DHG_REGISTRY_SERVICE_TOKENS__WORKER", "dhg_worker-secret-value")
    tokens = Settings().service_tokens
    assert {name: secret.get_secret_value() for name, secret in tokens.items()} == {"worker": "dhg_worker-secret-value"}
    server = start_registry(postgres.create_database(f"svc_{uuid.uuid4().hex[:8]}"), tmp_path, service_tokens=tokens)
    try:
        job_id = str(uuid.uuid4())
        with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer dhg_worker-secret-value"}) as worker:
            pushed = worker.post("/v1/transcripts", json={"job_id": job_id, "segments": []})
            assert pushed.status_code == 201, pushed.text
            assert worker.get(f"/v1/transcripts/{pushed.json()['id']}").status_code == 200
            assert worker.get("/v1/audit").status_code == 403
            assert worker.post("/v1/tokens", json={"name": "x", "scopes": ["admin"]}).status_code == 403
            # least privilege (issue 17): transcripts, job records and the media they come from (a live session's
            # audio: content-addressed, never replacing what is stored); no deletes, tokens or webhooks
            assert worker.post("/v1/jobs", json={"source": {"path": "/data/a.wav"}}).status_code == 201
            assert worker.delete(f"/v1/transcripts/{pushed.json()['id']}").status_code == 403
            upload = worker.post("/v1/assets", files={"file": ("a.wav", b"RIFF", "audio/wav")})
            assert upload.status_code == 415, upload.text  # allowed, and refused for what it is: not audio
            assert (
                worker.post("/v1/webhooks", json={"url": "https://e.org/h", "events": ["job.created"]}).status_code
                == 403
            )
        with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer dhg_worker-secret-valuE"}) as wrong:
            assert wrong.get("/v1/transcripts").status_code == 401
        with server.client(server.admin_token) as admin:
            rows = admin.get("/v1/audit", params={"limit": 500}).json()["items"]
        pushes = [row for row in rows if row["method"] == "POST" and row["path"] == "/v1/transcripts"]
        assert [row["actor"] for row in pushes] == ["service:worker"]
    finally:
        server.stop()
