"""Transcripts: idempotent pushes (also concurrent), renderings, listing, deletion, refusals."""

import threading
import uuid

import pytest

SEGMENTS = [
    {
        "start": 0.0,
        "end": 2.0,
        "text": " The quick brown fox.",
        "words": [
            {"start": 0.0, "end": 0.4, "word": " The", "probability": 0.98},
            {"start": 0.4, "end": 0.9, "word": " quick", "probability": 0.91},
        ],
    },
    {"start": 2.0, "end": 4.5, "text": " Jumps over the lazy dog.", "avg_logprob": -0.2, "no_speech_prob": 0.01},
]


def transcript(job_id=None, **extra):
    body = {
        "job_id": str(job_id or uuid.uuid4()),
        "language": "en",
        "model": "tiny.en",
        "engine": "faster-whisper",
        "device": "cpu",
        "duration_seconds": 4.5,
        "processing_seconds": 0.3,
        "timings": {"decode": 0.05, "transcribe": 0.25},
        "segments": SEGMENTS,
    }
    body.update(extra)
    return body


def test_push_stores_text_segments_words_and_metadata(writer, reader):
    response = writer.post("/v1/transcripts", json=transcript())
    assert response.status_code == 201, response.text
    stored = reader.get(response.headers["location"]).json()
    assert stored["text"] == "The quick brown fox. Jumps over the lazy dog."
    assert [s["position"] for s in stored["segments"]] == [0, 1]
    assert stored["segments"][0]["words"][1] == {"start": 0.4, "end": 0.9, "word": " quick", "probability": 0.91}
    assert stored["segments"][1]["no_speech_prob"] == 0.01
    assert (stored["model"], stored["engine"], stored["device"], stored["segment_count"]) == (
        "tiny.en",
        "faster-whisper",
        "cpu",
        2,
    )
    assert stored["timings"] == {"decode": 0.05, "transcribe": 0.25}
    assert stored["created_at"].endswith(("Z", "+00:00"))


def test_the_same_job_pushed_twice_is_stored_once_and_returns_the_first(writer, reader, admin):
    """A retry of the same result (run again elsewhere: other device, engine, timings and scores) gets the stored one
    back; the replay is audited with the content digest both agreed on."""
    body = transcript()
    first = writer.post("/v1/transcripts", json=body)
    rerun = {**body, "device": "gpu", "engine": "openai-whisper", "processing_seconds": 9.0, "timings": {"x": 1.0}}
    rerun["segments"] = [{**SEGMENTS[0], "words": [{**w, "probability": 0.5} for w in SEGMENTS[0]["words"]]},
                         {**SEGMENTS[1], "avg_logprob": -0.9}]  # fmt: skip
    second = writer.post("/v1/transcripts", json=rerun)
    assert (first.status_code, second.status_code) == (201, 200), second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    listed = reader.get("/v1/transcripts", params={"job_id": body["job_id"]}).json()
    assert listed["total"] == 1
    audit = admin.get("/v1/audit", params={"entity_id": first.json()["id"]}).json()["items"]
    replayed = [entry["detail"] for entry in audit if entry["detail"].get("replayed")]
    assert len(replayed) == 1 and len(replayed[0]["content_sha256"]) == 64


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"text": "a different retry"}, ["text"]),
        ({"language": "de"}, ["language"]),
        ({"segments": []}, ["segments (2 stored, 0 sent)", "text"]),
        (
            {"segments": [SEGMENTS[0], {**SEGMENTS[1], "text": " Jumps over the lazy cat."}]},
            ["segments[1].text", "text"],
        ),
        ({"segments": [{**SEGMENTS[0], "speaker": "A"}, SEGMENTS[1]]}, ["segments[0].speaker"]),
        ({"duration_seconds": 99.0}, ["duration_seconds"]),
    ],
)
def test_the_same_job_pushed_with_other_content_is_refused_naming_the_stored_one(
    writer, reader, admin, change, differs
):
    """A job_id reused with another result is refused (409: it conflicts with the stored one), naming the
    stored transcript and what differs; nothing changes."""
    body = transcript()
    first = writer.post("/v1/transcripts", json=body).json()
    refused = writer.post("/v1/transcripts", json={**body, **change})
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/idempotency-mismatch") and problem["differs"] == differs, problem
    assert problem["stored"]["id"] == first["id"] and problem["stored"]["href"] == f"/v1/transcripts/{first['id']}"
    assert problem["stored"]["content_sha256"] != problem["sent_content_sha256"]
    assert first["id"] in problem["detail"] and "Nothing was changed" in problem["detail"]
    assert reader.get(f"/v1/transcripts/{first['id']}").json() == first  # unchanged
    audit = admin.get("/v1/audit", params={"action": "transcript.create", "limit": 500}).json()["items"]
    assert any(e["outcome"] == "refused" and e["status_code"] == 409 for e in audit)


def test_a_retry_after_a_timeout_that_did_store_gets_the_stored_one(registry, writer):
    """The client gave up before the answer (its connection closed mid-request) but the push was stored: the same
    body sent again is answered with it, once."""
    import socket
    import time

    import orjson

    body = transcript()
    raw = orjson.dumps(body)
    token = writer.headers["authorization"]
    host, port = registry.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"POST /v1/transcripts HTTP/1.1\r\nHost: x\r\nAuthorization: " + token.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(raw)).encode() + b"\r\n\r\n" + raw
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while writer.get("/v1/transcripts", params={"job_id": body["job_id"]}).json()["total"] == 0:
        assert time.monotonic() < deadline, "the abandoned push was not stored"
        time.sleep(0.05)
    retried = writer.post("/v1/transcripts", json=body)
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert writer.get("/v1/transcripts", params={"job_id": body["job_id"]}).json()["total"] == 1


def test_concurrent_duplicate_pushes_store_exactly_one(registry, admin, writer, reader):
    body = transcript()
    token = writer.headers["authorization"].split()[1]
    results, barrier = [], threading.Barrier(12)

    def push():
        with registry.client(token) as client:
            barrier.wait()
            results.append(client.post("/v1/transcripts", json=body))

    threads = [threading.Thread(target=push) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 11 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    assert reader.get("/v1/transcripts", params={"job_id": body["job_id"]}).json()["total"] == 1
    stored = reader.get(f"/v1/transcripts/{results[0].json()['id']}").json()
    assert len(stored["segments"]) == 2
    audit = admin.get("/v1/audit", params={"entity_id": stored["id"], "limit": 100}).json()["items"]
    assert sorted(e["detail"]["replayed"] for e in audit) == [False] + [True] * 11


@pytest.mark.parametrize(
    ("fmt", "media_type", "expected"),
    [
        ("text", "text/plain", "The quick brown fox.\nJumps over the lazy dog.\n"),
        ("srt", "application/x-subrip", "1\n00:00:00,000 --> 00:00:02,000\nThe quick brown fox.\n\n2\n"),
        ("vtt", "text/vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nThe quick brown fox.\n"),
        ("tsv", "text/tab-separated-values", "start\tend\ttext\n0\t2000\tThe quick brown fox.\n2000\t4500\t"),
    ],
)
def test_transcripts_render_in_every_format(writer, reader, fmt, media_type, expected):
    created = writer.post("/v1/transcripts", json=transcript()).json()
    response = reader.get(f"/v1/transcripts/{created['id']}", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.text.startswith(expected)


def test_unknown_format_and_missing_transcript_are_problems(reader):
    response = reader.get(f"/v1/transcripts/{uuid.uuid4()}", params={"format": "docx"})
    assert response.status_code == 422 and response.json()["type"].endswith("/validation")
    response = reader.get(f"/v1/transcripts/{uuid.uuid4()}")
    assert response.status_code == 404 and response.json()["type"].endswith("/not-found")
    assert reader.get("/v1/transcripts/not-a-uuid").status_code == 404  # names nothing


@pytest.mark.parametrize(
    "body",
    [
        {"segments": []},
        {"job_id": "not-a-uuid", "segments": []},
        {"job_id": str(uuid.uuid4()), "segments": [{"start": 3, "end": 1, "text": "backwards"}]},
        {"job_id": str(uuid.uuid4()), "segments": [], "surprise": True},
    ],
)
def test_invalid_transcripts_are_refused_with_the_field_named(writer, body):
    response = writer.post("/v1/transcripts", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/validation") and problem["status"] == 422 and problem["errors"]


def test_malformed_json_is_a_problem_not_a_crash(writer):
    response = writer.post("/v1/transcripts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_delete_removes_transcript_and_segments(writer, reader):
    created = writer.post("/v1/transcripts", json=transcript()).json()
    assert writer.delete(f"/v1/transcripts/{created['id']}").status_code == 204
    assert reader.get(f"/v1/transcripts/{created['id']}").status_code == 404
    assert writer.delete(f"/v1/transcripts/{created['id']}").status_code == 404


def test_listing_filters_and_counts_the_total(writer, reader):
    language = "x" + uuid.uuid4().hex[:6]
    ids = [writer.post("/v1/transcripts", json=transcript(language=language)).json()["id"] for _ in range(5)]
    page = reader.get("/v1/transcripts", params={"language": language, "limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert len(page["items"]) == 2 and {i["id"] for i in page["items"]} <= set(ids)
    assert "segments" not in page["items"][0]


def test_page_size_is_capped_and_negative_offsets_refused(reader):
    assert reader.get("/v1/transcripts", params={"limit": 100000}).json()["limit"] == 500
    assert reader.get("/v1/transcripts", params={"offset": -1}).status_code == 422


def test_a_transcript_naming_an_unknown_asset_is_refused(writer):
    response = writer.post("/v1/transcripts", json=transcript(asset_id=str(uuid.uuid4())))
    assert response.status_code == 422 and "does not exist" in response.json()["detail"]


def test_the_database_rendered_json_matches_the_api_schema_exactly(registry, writer, reader):
    import asyncio

    from dhg_contract.schemas import TranscriptOut
    from registry.db import make_engine, make_sessionmaker
    from registry.store import transcripts as store

    created = writer.post("/v1/transcripts", json=transcript()).json()
    served = reader.get(f"/v1/transcripts/{created['id']}").json()

    async def via_orm():
        engine = make_engine(registry.settings)
        try:
            async with make_sessionmaker(engine)() as session:
                return await store.get(session, transcript_id=uuid.UUID(created["id"]))
        finally:
            await engine.dispose()

    expected = TranscriptOut.model_validate(asyncio.run(via_orm()))
    assert TranscriptOut.model_validate(served) == expected
    assert list(served) == list(TranscriptOut.model_fields)
    assert list(served["segments"][0]) == list(expected.segments[0].model_dump())


def test_the_push_answers_exactly_what_a_read_returns_and_audits_itself(admin, writer, reader):
    body = transcript(segments=[*SEGMENTS, {"start": 4.5, "end": 5.0, "text": 'é ünïcode "quoted"', "words": None}])
    response = writer.post("/v1/transcripts", json=body, headers={"X-Request-ID": "push-audit-1"})
    assert response.status_code == 201
    created = response.json()
    assert created == reader.get(response.headers["location"]).json()
    assert [s["position"] for s in created["segments"]] == [0, 1, 2]
    assert len({s["id"] for s in created["segments"]}) == 3
    assert created["segments"][2]["text"] == 'é ünïcode "quoted"' and created["segments"][2]["words"] is None
    (entry,) = admin.get("/v1/audit", params={"entity_id": created["id"]}).json()["items"]
    assert (entry["action"], entry["outcome"], entry["status_code"], entry["request_id"]) == (
        "transcript.create",
        "ok",
        201,
        "push-audit-1",
    )
    assert entry["actor"].startswith("token:") and entry["detail"] == {"job_id": body["job_id"], "replayed": False}


def test_push_and_read_render_time_identically(writer, reader):
    # Postgres trims trailing zeros of fractional seconds (one time in ten, on average): a push must answer the
    # very string a read will, or clients comparing the two see different transcripts.
    for _ in range(30):
        created = writer.post("/v1/transcripts", json=transcript(segments=SEGMENTS[:1])).json()
        assert reader.get(f"/v1/transcripts/{created['id']}").json()["created_at"] == created["created_at"]
