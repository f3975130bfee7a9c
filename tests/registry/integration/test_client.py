"""The typed client against the running Registry (sync and async share one description of each call)."""

import uuid

import pytest

from registry.client import AsyncRegistryClient, AuthError, NotFoundError, RegistryAPIError, RegistryClient
from registry.schemas import JobIn, JobPatch, SegmentIn, TranscriptIn
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
