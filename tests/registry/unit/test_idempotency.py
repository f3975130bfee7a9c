"""What "the same content" means for retried writes (registry.idempotency), pure."""

import uuid

from registry.idempotency import content_digest, describe, differences, job_content, transcript_content

SEGMENT = {"start": 0.0, "end": 1.5, "text": " Hello.", "words": [{"start": 0.0, "end": 0.5, "word": " Hello."}]}


def test_a_rerun_elsewhere_is_the_same_content_and_the_digest_is_canonical() -> None:
    sent = {"asset_id": None, "text": "Hello.", "language": "en", "model": "tiny.en", "duration_seconds": 1.5,
            "device": "cpu", "processing_seconds": 0.2, "segments": [{**SEGMENT, "avg_logprob": -0.1}]}  # fmt: skip
    rerun = {**sent, "device": "gpu", "processing_seconds": 9.0, "engine": "openai-whisper",
             "segments": [{**SEGMENT, "avg_logprob": -0.7, "id": str(uuid.uuid4()), "position": 0}]}  # fmt: skip
    assert transcript_content(sent) == transcript_content(rerun)
    digest = content_digest(transcript_content(sent))
    assert digest == content_digest(dict(reversed(list(transcript_content(sent).items()))))  # key order does not count
    assert len(digest) == 64


def test_what_differs_is_named_by_path() -> None:
    stored = transcript_content({"text": "a", "segments": [SEGMENT, SEGMENT]})
    assert differences(stored, transcript_content({"text": "a", "segments": [SEGMENT]})) == [
        "segments (2 stored, 1 sent)"
    ]
    other = {**SEGMENT, "words": [{"start": 0.0, "end": 0.6, "word": " Hello."}]}
    assert differences(stored, transcript_content({"text": "b", "segments": [SEGMENT, other]})) == [
        "segments[1].words[0].end",
        "text",
    ]
    assert describe([f"p{i}" for i in range(7)]) == "p0, p1, p2, p3, p4 and 2 more"


def test_a_job_is_its_name_source_and_parameters_even_with_huge_numbers() -> None:
    first = job_content({"name": "x", "source": {"url": "https://a/", "path": None}, "parameters": {"n": 10**30}})
    assert first == job_content(
        {"name": "x", "source": {"url": "https://a/"}, "parameters": {"n": 10**30}, "phase": "Running"}
    )
    assert content_digest(first) != content_digest({**first, "parameters": {"n": 10**30 + 1}})
