"""Hostile input to the ASR service (issue 17, classes 4 and 5): refused before any work, with a clear 4xx.

- `language` is checked against Whisper's languages (and an English-only model), `prompt` against OpenAI's 224
  tokens, on the synchronous, streaming and asynchronous paths alike (the async one answered 202 before);
- a file whose container states more than the duration limit is refused from its headers, before a decoder slot is
  taken (it held the only slot while decoding) and before an async job is accepted (it was accepted outright);
- a body declared larger than the upload limit is answered 413 before it is read; one that grows past the limit
  while it arrives (chunked) is cut off with a 413, not spooled whole first."""

from __future__ import annotations

import select
import socket
import time

import httpx
import pytest

from tests.asr.bombs import silent_without_stated_length, stating
from tests.asr.service import SAMPLE, start_asr

KEY = {"Authorization": "Bearer test-asr-key"}
ASYNC = {**KEY, "Prefer": "respond-async"}
LIMIT_BYTES = 200_000
TRANSCRIPTIONS = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    service = start_asr(
        outbox_dir=tmp_path_factory.mktemp("outbox"), spool_dir=tmp_path_factory.mktemp("spool"),
        api_key="test-asr-key", max_audio_seconds=600, max_upload_bytes=LIMIT_BYTES, concurrency=1,
    )  # fmt: skip
    yield service
    service.stop()


def post(
    asr, data: dict, *, audio: bytes | None = None, headers: dict | None = None, name: str = "sample.opus"
) -> httpx.Response:
    files = {"file": (name, audio if audio is not None else SAMPLE.read_bytes(), "application/octet-stream")}
    return httpx.post(f"{asr.url}{TRANSCRIPTIONS}", data=data, files=files, headers=headers or KEY, timeout=120)


def assert_problem(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:400])
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.json()["detail"], response.json()["detail"]


@pytest.mark.parametrize("headers", [KEY, ASYNC], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"language": "klingon"}, "not one Whisper knows"),
        ({"language": "en\x00"}, "not one Whisper knows"),
        ({"language": "x" * 5000}, "not one Whisper knows"),
        ({"language": "de"}, "English-only"),  # tiny.en
        ({"prompt": "word " * 400}, "at most 224"),
    ],
    ids=["unknown", "nul", "huge", "english-only", "long-prompt"],
)
def test_unusable_language_or_prompt_is_refused_before_any_work(asr, headers, data, words) -> None:
    assert_problem(post(asr, data, headers=headers), 400, words)


def test_a_language_given_by_name_or_in_capitals_and_a_short_prompt_are_taken(asr) -> None:
    for data in ({"language": "EN"}, {"language": "English"}, {"language": "auto"}, {"prompt": "Dashwood. " * 10}):
        response = post(asr, {**data, "response_format": "verbose_json"})
        assert response.status_code == 200, (data, response.text[:300])
        assert response.json()["language"] == "english"


@pytest.mark.parametrize("headers", [KEY, ASYNC], ids=["sync", "async"])
@pytest.mark.parametrize("kind", ["opus", "mp3", "flac", "m4a"])
def test_a_file_stating_hours_is_refused_from_its_headers(asr, headers, kind) -> None:
    """Header bombs: 2 s of audio whose container states 10 h, in every container that can state it."""
    bomb = stating(kind, 10 * 3600)
    assert len(bomb) < 100_000
    assert_problem(post(asr, {}, audio=bomb, headers=headers, name=f"bomb.{kind}"), 413, "states 36000 s")
    if headers is KEY:
        assert_problem(post(asr, {"stream": "true"}, audio=bomb, name=f"bomb.{kind}"), 413, "states 36000 s")


def test_a_wav_header_stating_hours_does_not_go_off(asr) -> None:
    """FFmpeg bounds a WAV's stated length by the file's size: the 2 s it holds are transcribed, no more."""
    response = post(asr, {"response_format": "verbose_json"}, audio=stating("wav", 10 * 3600), name="bomb.wav")
    assert response.status_code == 200, response.text[:300]
    assert response.json()["duration"] == pytest.approx(2.0, abs=0.1)


def test_a_decompression_bomb_stating_no_length_is_stopped_at_the_limit_while_decoding(asr) -> None:
    """15 min of FLAC silence in about 170 kB, its length unstated: decoding stops at the 600 s limit."""
    bomb = silent_without_stated_length(15)
    assert len(bomb) < LIMIT_BYTES
    for headers in (KEY, ASYNC):
        response = post(asr, {}, audio=bomb, headers=headers, name="bomb.flac")
        if headers is ASYNC:  # accepted (nothing stated to refuse), then failed at the limit
            assert response.status_code == 202, response.text[:300]
            job = wait_for_job(asr, response.json()["id"])
            assert job["status"] == "failed" and "longer than 600 s" in job["error"]["detail"], job
        else:
            assert_problem(response, 413, "longer than 600 s")


def wait_for_job(asr, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while True:
        job = httpx.get(f"{asr.url}/v1/audio/jobs/{job_id}", headers=KEY, timeout=30).json()
        if job["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_declared_oversize_body_is_413_before_it_is_sent(asr) -> None:
    host, port = asr.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer test-asr-key\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000000\r\n\r\n".encode()
        )  # and no body at all: the answer must not wait for one
        answer = connection.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "application/problem+json" in answer


def test_a_body_growing_past_the_limit_is_cut_off_with_413(asr) -> None:
    """Sent chunked, 40 MB against a 200 kB limit: the answer comes long before the body is through (kernel
    buffers hold a few MB at most), so the server stopped reading it rather than spooling it whole."""
    host, port = asr.url.removeprefix("http://").split(":")
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.opus"\r\n\r\n'
    piece = SAMPLE.read_bytes()[:65_536]
    sent, total = 0, 40_000_000
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer test-asr-key\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        connection.settimeout(5)
        chunk = head + piece
        while sent < total and not select.select([connection], [], [], 0)[0]:
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break  # it stopped reading: its answer is waiting
            sent += len(chunk)
            chunk = piece
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 8_000_000, f"{sent} bytes were taken before the answer"


def test_the_service_still_transcribes_after_all_that(asr) -> None:
    assert post(asr, {}).status_code == 200
