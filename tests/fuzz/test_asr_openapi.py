"""Property-based fuzzing of the ASR service's OpenAPI document (issue 17): every operation, valid and invalid
requests with its API key, against the real service (the bundled model loaded): no 5xx, and every answer is one
the document declares (status, content type, body schema)."""

from __future__ import annotations

import pytest

from tests.asr.service import start_asr
from tests.fuzz.support import fuzz, fuzz_stateful

KEY = "fuzz-asr-key"


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    service = start_asr(
        outbox_dir=tmp_path_factory.mktemp("outbox"), spool_dir=tmp_path_factory.mktemp("spool"), api_key=KEY,
        max_upload_bytes=1_000_000, queue_size=64,
    )  # fmt: skip
    yield service
    service.stop()


def test_every_operation_answers_as_documented_and_never_5xx(asr) -> None:
    fuzzed = fuzz(f"{asr.url}/openapi.json", {"Authorization": f"Bearer {KEY}"}, examples=20)
    print(f"asr fuzzing: {fuzzed.requests} requests, statuses {dict(sorted(fuzzed.statuses.items()))}")
    assert not fuzzed.failures, "\n\n".join(fuzzed.failures)
    assert fuzzed.requests >= 200 and fuzzed.statuses[0] == 0


def test_sequences_of_linked_calls_answer_as_documented_and_never_5xx(asr) -> None:
    """Stateful: an async job created, then polled, its result read and the job cancelled (the links inferred)."""
    walked = fuzz_stateful(f"{asr.url}/openapi.json", {"Authorization": f"Bearer {KEY}"}, examples=10)
    print(f"asr stateful fuzzing: {walked.links} links, statuses {dict(sorted(walked.statuses.items()))}")
    assert walked.links >= 1 and sum(walked.statuses.values()) >= 20
