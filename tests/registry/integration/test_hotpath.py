"""registry.hotpath: the transcript push and JSON read, answered without FastAPI, exactly as FastAPI answers.

The app runs in the test's own event loop (ASGI, real PostgreSQL) with a recorder between the hot layer and
FastAPI, so each test knows which calls the hot layer answered itself. A query string the hot layer does not
own (`via=fastapi`, ignored by the routes) sends the same call through FastAPI for comparison.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from registry import migrate
from registry.app import create_app
from registry.hotpath import HotRoutes
from registry.settings import Settings
from tests.registry.integration.test_transcripts import transcript

ADMIN = "hot-admin-" + uuid.uuid4().hex
VIA_FASTAPI = {"via": "fastapi"}
CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Hot:
    client: httpx.AsyncClient
    passed: list[str] = field(default_factory=list)  # "METHOD path?query" of the calls that reached FastAPI

    async def token(self, *scopes: str, name: str) -> dict[str, str]:
        response = await self.client.post("/v1/tokens", json={"name": name, "scopes": list(scopes)}, headers=AS_ADMIN)
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def migrated(empty_database: str) -> str:
    migrate.upgrade(empty_database)
    return empty_database


@pytest.fixture
async def hot(migrated: str, tmp_path: Path) -> AsyncIterator[Hot]:
    settings = Settings(
        database_url=migrated,
        storage_dir=tmp_path,
        admin_token=ADMIN,
        embeddings="off",
        webhooks_enabled=False,
        token_cache_seconds=0.0,
    )
    app = create_app(settings)
    app.middleware_stack = app.build_middleware_stack()
    layer = app.middleware_stack
    while not isinstance(layer, HotRoutes):
        layer = layer.app
    fastapi = layer.app
    hot = Hot(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry"))

    async def recorder(scope, receive, send):
        hot.passed.append(f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}")
        await fastapi(scope, receive, send)

    layer.app = recorder
    async with app.router.lifespan_context(app), hot.client:
        yield hot


def same_answer(hot: httpx.Response, slow: httpx.Response) -> None:
    assert (hot.status_code, hot.content) == (slow.status_code, slow.content)
    for header in ("content-type", "www-authenticate", "location", "idempotent-replayed"):
        assert hot.headers.get(header) == slow.headers.get(header), header


async def test_hot_reads_answer_byte_for_byte_what_fastapi_answers(hot: Hot) -> None:
    pushed = (await hot.client.post("/v1/transcripts", json=transcript(), headers=AS_ADMIN)).json()
    one, missing = f"/v1/transcripts/{pushed['id']}", f"/v1/transcripts/{uuid.uuid4()}"
    reader = await hot.token("read", name="hot-reader")
    hot.passed.clear()
    for path, headers in [(one, reader), (one.upper().replace("/V1/TRANSCRIPTS/", "/v1/transcripts/"), reader),
                          (missing, reader), (one, {}), (one, {"Authorization": "Bearer nope"})]:  # fmt: skip
        answer = await hot.client.get(path, headers=headers)
        via_format = await hot.client.get(path, params={"format": "json"}, headers=headers)
        slow = await hot.client.get(path, params={"format": "json", **VIA_FASTAPI}, headers=headers)
        same_answer(answer, slow)
        same_answer(via_format, slow)
    assert all("via=fastapi" in call for call in hot.passed), hot.passed
    assert len(hot.passed) == 5
    assert (await hot.client.get(one, headers=reader)).json()["segments"][0]["words"][1]["word"] == " quick"
    assert (await hot.client.get(missing, headers=reader)).json()["type"].endswith("/not-found")


async def test_hot_pushes_answer_as_fastapi_does_and_replay_the_first(hot: Hot) -> None:
    writer = await hot.token("write", name="hot-writer")
    reader = await hot.token("read", name="hot-reader")
    hot.passed.clear()
    body = transcript()
    first = await hot.client.post("/v1/transcripts", json=body, headers=writer)
    assert first.status_code == 201 and CANONICAL.match(first.json()["id"])
    assert first.headers["location"] == f"/v1/transcripts/{first.json()['id']}"
    replay = await hot.client.post("/v1/transcripts", json=body, headers=writer)
    replay_slow = await hot.client.post("/v1/transcripts", params=VIA_FASTAPI, json=body, headers=writer)
    same_answer(replay, replay_slow)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    other = transcript()
    slow = await hot.client.post("/v1/transcripts", params=VIA_FASTAPI, json=other, headers=writer)
    assert slow.status_code == 201
    assert set(slow.json()) == set(first.json())
    assert slow.json()["segments"][0].keys() == first.json()["segments"][0].keys()
    refusals = [({}, body), ({"Authorization": "Bearer nope"}, body), (reader, body),
                (writer, transcript(asset_id=str(uuid.uuid4())))]  # fmt: skip
    for headers, payload in refusals:
        same_answer(
            await hot.client.post("/v1/transcripts", json=payload, headers=headers),
            await hot.client.post("/v1/transcripts", params=VIA_FASTAPI, json=payload, headers=headers),
        )
    assert len(hot.passed) == 2 + len(refusals) and all("via=fastapi" in call for call in hot.passed)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"job_id": "not a uuid", "segments": []}', "application/json"),  # does not validate
        (b'{"job_id": ', "application/json"),  # not JSON
        (b'{"job_id": "%s", "segments": [{"start": 0, "end": 1, "text": "hi"}]}', "application/vnd.dhg+json"),
    ],
)
async def test_pushes_the_hot_layer_does_not_own_reach_fastapi_with_their_body(
    hot: Hot, content: bytes, content_type: str
) -> None:
    headers = {**AS_ADMIN, "Content-Type": content_type}
    hot.passed.clear()
    if b"%s" in content:  # stored: a new job each time
        answer, slow = [
            await hot.client.post("/v1/transcripts", params=params, content=content % uuid.uuid4().hex.encode(),
                                  headers=headers)
            for params in ({}, VIA_FASTAPI)
        ]  # fmt: skip
        assert answer.status_code == slow.status_code == 201  # FastAPI takes any +json type; so does the hot path
        assert answer.json()["segments"][0]["text"] == slow.json()["segments"][0]["text"] == "hi"
    else:
        answer = await hot.client.post("/v1/transcripts", content=content, headers=headers)
        slow = await hot.client.post("/v1/transcripts", params=VIA_FASTAPI, content=content, headers=headers)
        same_answer(answer, slow)
        assert answer.status_code == 422 and answer.json()["type"].endswith("/validation")
    if content == b'{"job_id": ':  # not JSON: the input guard, in front of both, answers it (registry/inputs.py)
        assert hot.passed == [] and "not valid JSON" in answer.json()["detail"]
        return
    assert hot.passed == ["POST /v1/transcripts?", "POST /v1/transcripts?via=fastapi"]


async def test_reads_the_hot_layer_does_not_own_reach_fastapi(hot: Hot) -> None:
    pushed = (await hot.client.post("/v1/transcripts", json=transcript(), headers=AS_ADMIN)).json()
    hot.passed.clear()
    srt = await hot.client.get(f"/v1/transcripts/{pushed['id']}", params={"format": "srt"}, headers=AS_ADMIN)
    assert srt.status_code == 200 and "-->" in srt.text
    simple = await hot.client.get(f"/v1/transcripts/{pushed['id'].replace('-', '')}", headers=AS_ADMIN)
    assert simple.status_code == 200 and simple.json()["id"] == pushed["id"]
    assert (await hot.client.get("/v1/transcripts/not-a-uuid", headers=AS_ADMIN)).status_code == 404
    assert len(hot.passed) == 3


async def test_hot_calls_are_audited_and_counted_by_route_template(hot: Hot) -> None:
    reader = await hot.token("read", name="hot-audited-reader")
    pushed = await hot.client.post("/v1/transcripts", json=transcript(), headers={**AS_ADMIN, "X-Request-ID": "p-1"})
    refused_push = await hot.client.post(
        "/v1/transcripts", json=transcript(), headers={**reader, "X-Request-ID": "p-2"}
    )
    refused_read = await hot.client.get(f"/v1/transcripts/{pushed.json()['id']}", headers={"X-Request-ID": "r-1"})
    assert (pushed.status_code, refused_push.status_code, refused_read.status_code) == (201, 403, 401)
    assert [r.headers["x-request-id"] for r in (pushed, refused_push, refused_read)] == ["p-1", "p-2", "r-1"]
    entries = (await hot.client.get("/v1/audit", params={"limit": 500}, headers=AS_ADMIN)).json()["items"]
    by_request = {}
    for entry in entries:
        by_request.setdefault(entry["request_id"], []).append(entry)
    [stored] = by_request["p-1"]
    assert (stored["action"], stored["outcome"], stored["status_code"], stored["actor"]) == (
        "transcript.create", "ok", 201, "bootstrap-admin"
    )  # fmt: skip
    assert stored["entity_id"] == pushed.json()["id"]
    [refused] = by_request["p-2"]
    assert (refused["action"], refused["outcome"], refused["status_code"], refused["actor"]) == (
        "transcript.create", "refused", 403, "token:hot-audited-reader"
    )  # fmt: skip
    [anonymous] = by_request["r-1"]
    assert (anonymous["action"], anonymous["status_code"], anonymous["actor"]) == ("transcript.get", 401, "anonymous")
    metrics = (await hot.client.get("/metrics/")).text
    assert 'method="GET",route="/v1/transcripts/{transcript_id}",status="401"' in metrics
    assert 'method="POST",route="/v1/transcripts",status="403"' in metrics
    assert not [call for call in hot.passed if "/v1/transcripts" in call]
