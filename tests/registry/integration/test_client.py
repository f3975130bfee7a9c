"""The typed client against the running Registry (sync and async share one description of each call)."""

import asyncio
import io
import json
import subprocess
import sys
import threading
import uuid
import wave
from pathlib import Path

import pytest

from dhg_contract.client import AsyncRegistryClient, AuthError, NotFoundError, RegistryAPIError, RegistryClient
from dhg_contract.schemas import JobIn, JobPatch, SegmentIn, TranscriptIn
from tests.registry.integration.media import sine_wav


@pytest.fixture
def client(registry):
    with RegistryClient(registry.url, registry.admin_token) as c:
        yield c


def test_push_is_idempotent_through_the_client(client):
    transcript = TranscriptIn(
        job_id=uuid.uuid4(), language="en", segments=[SegmentIn(start=0, end=1, text=" Typed client.")]
    )
    first, second = client.push_transcript(transcript), client.push_transcript(transcript)
    assert first.created and not second.created and first.value.id == second.value.id
    assert client.get_transcript(first.value.id).text == "Typed client."
    assert client.render_transcript(first.value.id, "srt").startswith("1\n00:00:00,000 --> 00:00:01,000")


def test_jobs_assets_and_search_through_the_client(client):
    job = client.create_job(JobIn(source={"path": "/data/x.wav"}, name="client-test")).value
    assert client.update_job(job.id, JobPatch(phase="Running")).phase == "Running"
    asset = client.upload_asset(sine_wav(0.1, 900.0), filename="t.wav", content_type="audio/wav")
    assert asset.created and client.download_asset(asset.value.id)[:4] == b"RIFF"
    assert client.search("typed client", mode="fulltext").mode == "fulltext"


def test_errors_are_typed_and_say_whether_to_retry(registry, client):
    with pytest.raises(NotFoundError) as missing:
        client.get_job(uuid.uuid4())
    assert missing.value.status == 404 and missing.value.type.endswith("/not-found") and not missing.value.transient
    with RegistryClient(registry.url, "dhg_wrong") as anonymous, pytest.raises(AuthError):
        anonymous.get_job(uuid.uuid4())
    with RegistryClient("http://127.0.0.1:9", "x") as unreachable, pytest.raises(RegistryAPIError) as down:
        unreachable.get_job(uuid.uuid4())
    assert down.value.status is None and down.value.transient


async def test_the_async_client_makes_the_same_calls(registry):
    async with AsyncRegistryClient(registry.url, registry.admin_token) as client:
        transcript = TranscriptIn(job_id=uuid.uuid4(), segments=[SegmentIn(start=0, end=2, text="async")])
        pushed = await client.push_transcript(transcript)
        again = await client.push_transcript(transcript)
        assert pushed.created and not again.created
        assert (await client.get_transcript(pushed.value.id)).segment_count == 1
        listed = await client.list_transcripts(job_id=transcript.job_id)
        assert listed.total == 1 and listed.items[0].id == pushed.value.id
        uploaded = await client.upload_asset(sine_wav(0.1, 700.0), filename="async.wav")
        assert uploaded.value.content_type.startswith("audio/") and (await client.readiness())["status"] == "ready"


def long_wav(path: Path, seconds: int) -> Path:
    """A WAV file of `seconds` of sine, written a second at a time."""
    with wave.open(io.BytesIO(sine_wav(1.0, 600.0)), "rb") as one:
        second = one.readframes(one.getnframes())
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        for _ in range(seconds):
            out.writeframes(second)
    return path


UPLOAD = """
import json, sys, tracemalloc
from pathlib import Path
from dhg_contract.client import RegistryClient
with RegistryClient(sys.argv[1], sys.argv[2]) as client:
    tracemalloc.start()
    uploaded = client.upload_asset(Path(sys.argv[3]))
    peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"created": uploaded.created, "asset": uploaded.value.model_dump(mode="json"), "peak": peak}))
"""


def test_a_file_is_uploaded_from_disk_in_chunks_never_whole_in_memory(registry, tmp_path):
    """In a process of its own, so that the traced peak is the client's alone (not the in-process server's)."""
    audio = long_wav(tmp_path / "long.wav", 256)
    size = audio.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", UPLOAD, registry.url, registry.admin_token, str(audio)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["created"] and measured["asset"]["size_bytes"] == size
    assert measured["asset"]["filename"] == "long.wav" and measured["asset"]["content_type"].startswith("audio/")
    assert measured["peak"] < size / 4, measured["peak"]


def test_tokens_and_readiness_through_the_client(client):
    created = client.create_token("client-lister", ["read"])
    assert any(token.id == created.id and not token.revoked_at for token in client.list_tokens().items)
    client.revoke_token(created.id)
    assert next(token for token in client.list_tokens().items if token.id == created.id).revoked_at
    assert client.ready() and client.readiness()["status"] == "ready"


def test_a_refusal_that_will_pass_carries_retry_after(postgres, tmp_path, monkeypatch):
    """While the embedding model loads, semantic search answers 503 with Retry-After: both clients say so."""
    from registry import embeddings
    from tests.conftest import start_registry

    loading, release = threading.Event(), threading.Event()

    def slow_load(settings):
        loading.set()
        assert release.wait(60)

    monkeypatch.setattr(embeddings, "load_embedder", slow_load)
    server = start_registry(postgres.create_database(f"client_{uuid.uuid4().hex[:8]}"), tmp_path, embeddings="on")
    try:
        assert loading.wait(30)
        with RegistryClient(server.url, server.admin_token) as sync, pytest.raises(RegistryAPIError) as refused:
            sync.search("goal", mode="semantic")
        assert refused.value.status == 503 and refused.value.transient
        assert refused.value.retry_after is not None and refused.value.retry_after > 0
        assert refused.value.request == "GET /v1/search"

        async def search_async() -> RegistryAPIError:
            async with AsyncRegistryClient(server.url, server.admin_token) as client:
                with pytest.raises(RegistryAPIError) as caught:
                    await client.search("goal", mode="semantic")
                return caught.value

        assert asyncio.run(search_async()).retry_after == refused.value.retry_after
        with RegistryClient(server.url, server.admin_token) as sync, pytest.raises(NotFoundError) as missing:
            sync.get_job(uuid.uuid4())
        assert missing.value.retry_after is None
    finally:
        release.set()
        server.stop()
