"""The audit trail of mutations, health, readiness, metrics, request ids and size limits."""

import uuid

from tests.conftest import start_registry


def test_every_mutation_leaves_one_audit_row_with_actor_and_request_id(registry, admin, writer):
    request_id = f"trail-{uuid.uuid4().hex}"
    job = writer.post("/v1/jobs", json={"source": {"path": "/data/a.wav"}}, headers={"X-Request-ID": request_id})
    writer.patch(f"/v1/jobs/{job.json()['id']}", json={"phase": "Running"}, headers={"X-Request-ID": request_id})
    entries = admin.get("/v1/audit", params={"entity_id": job.json()["id"]}).json()["items"]
    assert [e["action"] for e in entries] == ["job.update", "job.create"]
    assert all(e["actor"] == "token:writer" and e["outcome"] == "ok" and e["request_id"] == request_id for e in entries)
    assert entries[0]["detail"]["changed"] == ["phase"] and entries[0]["entity_type"] == "job"
    assert entries[0]["seq"] > entries[1]["seq"]


def test_audit_tail_cursor_returns_entries_after_a_seq_oldest_first(admin, writer):
    newest = admin.get("/v1/audit", params={"limit": 1}).json()["items"][0]["seq"]
    writer.post("/v1/jobs", json={"source": {"path": "/data/b.wav"}})
    writer.post("/v1/jobs", json={"source": {"path": "/data/c.wav"}})
    tail = admin.get("/v1/audit", params={"after_seq": newest}).json()["items"]
    assert [e["seq"] for e in tail] == sorted(e["seq"] for e in tail) and len(tail) >= 2
    assert all(e["seq"] > newest for e in tail)


def test_audit_is_not_readable_without_admin(reader):
    assert reader.get("/v1/audit").status_code == 403


def test_readiness_reports_the_schema_and_fails_on_an_unmigrated_database(registry, postgres, tmp_path):
    with registry.client() as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    import threading
    import time

    import httpx
    import uvicorn

    from dhg.postgres import free_port
    from registry.app import create_app
    from registry.settings import Settings

    bare = postgres.create_database(f"bare_{uuid.uuid4().hex[:8]}")
    app = create_app(Settings(database_url=bare, storage_dir=tmp_path, embeddings="off", webhooks_enabled=False))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        response = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert response.status_code == 503 and response.json()["type"].endswith("/unavailable")
    finally:
        server.should_exit = True
        thread.join(10)


def test_metrics_count_requests_by_route_template_not_by_id(registry, reader, writer):
    writer.post("/v1/transcripts", json={"job_id": str(uuid.uuid4()), "segments": []})
    reader.get(f"/v1/transcripts/{uuid.uuid4()}")
    with registry.client() as client:
        text = client.get("/metrics/").text
    assert 'dhg_registry_http_requests_total{method="GET",route="/v1/transcripts/{transcript_id}",status="404"}' in text
    assert 'dhg_registry_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/transcripts"}' in text
    for name in (
        "dhg_registry_transcripts ",
        "dhg_registry_assets ",
        "dhg_registry_embedding_backlog_segments ",
        "dhg_registry_db_pool_connections",
        "dhg_registry_transcripts_created_total ",
    ):
        assert name in text, name
    assert "/v1/transcripts/" + "0" not in text


def test_request_ids_are_echoed_or_generated(reader):
    assert reader.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = reader.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert len(generated) == 32 and " " not in generated


def test_json_bodies_over_the_limit_are_refused_and_audited(postgres, tmp_path):
    server = start_registry(
        postgres.create_database(f"limit_{uuid.uuid4().hex[:8]}"), tmp_path, embeddings="off", max_json_bytes=2000
    )
    try:
        with server.client(server.admin_token) as admin:
            big = {"job_id": str(uuid.uuid4()), "segments": [{"start": 0, "end": 1, "text": "x" * 5000}]}
            response = admin.post("/v1/transcripts", json=big)
            assert response.status_code == 413 and response.json()["type"].endswith("/too-large")
            audit = admin.get("/v1/audit", params={"outcome": "refused"}).json()["items"]
            assert audit[0]["status_code"] == 413 and audit[0]["path"] == "/v1/transcripts"
    finally:
        server.stop()


def test_unknown_routes_are_problem_404s(reader):
    response = reader.get("/v1/nothing-here")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
