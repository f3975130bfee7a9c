"""While PostgreSQL is away, the Registry answers 503 with Retry-After (problem+json), on every kind of route — the
hot transcript push, a JSON mutation, a list, an upload — and comes back by itself when PostgreSQL does (issue 17,
class 7: these were 500s). Nothing it answered 503 for is stored."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.registry.integration.media import sine_wav


def calls(client: httpx.Client, job_id: str) -> dict[str, httpx.Response]:
    wav = sine_wav(0.2)
    return {
        "push": client.post("/v1/transcripts", json={"job_id": job_id, "segments": []}),
        "job": client.post("/v1/jobs", json={"id": job_id, "source": {"url": "https://example.org/a.wav"}}),
        "list": client.get("/v1/jobs"),
        "upload": client.post("/v1/assets", files={"file": ("a.wav", wav, "audio/wav")}),
    }


def test_requests_while_postgres_is_down_are_503_with_retry_after_and_it_recovers(registry_on_own_postgres) -> None:
    postgres, server = registry_on_own_postgres
    with server.client(server.admin_token) as client:
        assert client.get("/v1/jobs").status_code == 200  # connections open
        postgres.stop()
        refused = str(uuid.uuid4())
        for name, response in calls(client, refused).items():
            assert response.status_code == 503, (name, response.status_code, response.text[:300])
            assert response.headers["content-type"].startswith("application/problem+json"), name
            assert int(response.headers["retry-after"]) > 0, name
            assert response.json()["type"].endswith("/unavailable"), name
        postgres.start()
        deadline = time.monotonic() + 30
        while (answer := client.get("/v1/jobs")).status_code != 200:  # recovers without a restart
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.2)
        assert client.get(f"/v1/jobs/{refused}").status_code == 404
        assert client.get("/v1/transcripts").json()["total"] == 0 and client.get("/v1/assets").json()["total"] == 0
        accepted = str(uuid.uuid4())
        assert [r.status_code for r in calls(client, accepted).values()] == [201, 201, 200, 201]
