"""Cross-request batching on the real tiny.en and real speech (LibriVox): two requests that wait at once are decoded
in one batch, the batch-size metric says so, and each gets exactly its own transcript, the one it gets alone.

A batch here starts only when it is full (its wait is longer than any test), so which windows share one does not
depend on how fast this machine is."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client import REGISTRY

from asr import audio, bundled
from asr.engines.base import Options
from asr.engines.faster import Batching, FasterWhisperEngine
from asr.evaluation import librivox_set, word_error_rate
from tests.asr.service import SAMPLE, SAMPLE_REFERENCE, start_asr

FULL_ONLY = 120.0  # seconds: a wait no test reaches (a batch of these tests fills at once)
GREEDY = Options(beam_size=1, temperature=(0.0,), batch_size=2, language="en")


def batch_samples(model: str) -> tuple[float, float]:
    labels = {"model": model, "device": "cpu"}
    count = REGISTRY.get_sample_value("dhg_asr_batch_size_count", labels) or 0.0
    total = REGISTRY.get_sample_value("dhg_asr_batch_size_sum", labels) or 0.0
    return count, total


@pytest.fixture(scope="module")
def clips() -> list[tuple[Path, str]]:
    """Two different utterances of the LibriVox set, each under 30 s (one window each), with their references."""
    utterances = librivox_set().utterances
    return [(utterances[0].path, utterances[0].reference), (utterances[2].path, utterances[2].reference)]


def text(engine: FasterWhisperEngine, path: Path, options: Options = GREEDY) -> str:
    samples = audio.read(path, max_seconds=60)
    return " ".join(segment.text.strip() for segment in engine.transcribe(samples, options).segments)


def assert_each_its_own(hypotheses: list[str], references: list[str]) -> None:
    """Each transcript is of its own clip: close to its reference, and closer to it than to the other's."""
    own = [word_error_rate(reference, hypothesis) for hypothesis, reference in zip(hypotheses, references, strict=True)]
    other = [
        word_error_rate(reference, hypothesis)
        for hypothesis, reference in zip(hypotheses, references[::-1], strict=True)
    ]
    assert all(rate <= 0.35 for rate in own) and all(a < b for a, b in zip(own, other, strict=True)), (
        hypotheses,
        own,
        other,
    )


def test_two_concurrent_transcriptions_share_one_batch_and_each_gets_its_own_transcript(
    clips: list[tuple[Path, str]],
) -> None:
    path = str(bundled.tiny_en_dir())
    alone = FasterWhisperEngine(path, model="tiny.en", device="cpu", batching=Batching(2, 0.0))
    expected = [text(alone, clip) for clip, _ in clips]
    together = FasterWhisperEngine(path, model="batched-pair", device="cpu", batching=Batching(2, FULL_ONLY))
    before = batch_samples("batched-pair")
    barrier = threading.Barrier(2)

    def transcribe(clip: Path) -> str:
        barrier.wait(30)
        return text(together, clip)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(transcribe, [clip for clip, _ in clips]))
    after = batch_samples("batched-pair")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)  # one batch, of both windows
    assert got == expected  # each its own, word for word what it gets alone (greedy)
    assert_each_its_own(got, [reference for _, reference in clips])


def test_beam_search_in_a_batch_hears_as_well_as_alone(clips: list[tuple[Path, str]]) -> None:
    """Beam 5 in a shared batch: the same words as alone, within a word of each utterance."""
    path = str(bundled.tiny_en_dir())
    beam = Options(beam_size=5, batch_size=2, language="en")
    alone = FasterWhisperEngine(path, model="tiny.en", device="cpu", batching=Batching(2, 0.0))
    together = FasterWhisperEngine(path, model="batched-beam", device="cpu", batching=Batching(2, FULL_ONLY))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda clip: text(together, clip, beam), [clip for clip, _ in clips]))
    assert batch_samples("batched-beam")[1] == 2
    for hypothesis, (clip, reference) in zip(got, clips, strict=True):
        single = text(alone, clip, beam)
        assert abs(word_error_rate(reference, hypothesis) - word_error_rate(reference, single)) <= 0.05


def test_the_service_decodes_two_concurrent_requests_in_one_batch(clips: list[tuple[Path, str]]) -> None:
    """Over real HTTP: two requests at once reach one batch of the service's model (its /metrics says so); each
    response is its own clip's transcript."""
    service = start_asr(batch_size=2, batch_wait_ms=FULL_ONLY * 1000, beam_size=1)
    try:
        metric = 'dhg_asr_batch_size_count{device="cpu",model="tiny.en"}'

        def batches() -> float:
            for line in httpx.get(f"{service.url}/metrics/").text.splitlines():
                if line.startswith(metric):
                    return float(line.split()[-1])
            return 0.0

        before = batches()
        card = httpx.get(f"{service.url}/v1/models/tiny.en").json()
        assert card["batch_size"] == 2  # the catalogue says it batches

        def post(clip: Path) -> httpx.Response:
            with clip.open("rb") as file:
                return httpx.post(
                    f"{service.url}/v1/audio/transcriptions",
                    files={"file": (clip.name, file, "audio/wav")},
                    data={"model": "tiny.en", "language": "en", "temperature": "0"},
                    timeout=120,
                )

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(post, [clip for clip, _ in clips]))
        assert [response.status_code for response in responses] == [200, 200], [r.text for r in responses]
        assert batches() - before == 1
        assert_each_its_own([response.json()["text"] for response in responses], [ref for _, ref in clips])
    finally:
        service.stop()


def test_a_cancelled_job_drops_its_waiting_windows_at_once(clips: list[tuple[Path, str]]) -> None:
    """An async job whose window waits in the batcher (a batch starts only when full, and nothing else comes) is
    cancelled: it ends cancelled long before the batch's wait would end, and its window is never decoded."""
    service = start_asr(batch_size=2, batch_wait_ms=FULL_ONLY * 1000)
    try:
        clip = clips[0][0]
        with clip.open("rb") as file:
            accepted = httpx.post(
                f"{service.url}/v1/audio/transcriptions",
                headers={"Prefer": "respond-async"},
                files={"file": (clip.name, file, "audio/wav")},
                data={"model": "tiny.en", "language": "en"},
                timeout=60,
            )
        assert accepted.status_code == 202, accepted.text
        job = f"{service.url}/v1/audio/jobs/{accepted.json()['id']}"
        engine = service.app.state.service.models.get("tiny.en")  # type: ignore[attr-defined]
        deadline = time.monotonic() + FULL_ONLY / 2
        while engine.batcher.waiting() == 0:  # its window is queued
            assert time.monotonic() < deadline, httpx.get(job).json()
            time.sleep(0.05)
        assert httpx.delete(job).status_code == 200
        while (view := httpx.get(job).json())["status"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, view  # well before the batch's wait would have ended
            time.sleep(0.05)
        assert view["status"] == "cancelled", view
        assert engine.batcher.waiting() == 0 and engine.batcher.batches == 0  # dropped, never decoded
    finally:
        service.stop()


def test_trimmed_windows_of_about_one_length_share_a_batch_and_each_gets_its_own_transcript(
    clips: list[tuple[Path, str]],
) -> None:
    """DHG_ASR_BATCH_TRIM: both clips (7 and 5 s) are encoded from their first 10 s only, in one batch."""
    path = str(bundled.tiny_en_dir())
    trimmed = FasterWhisperEngine(path, model="batched-trim", device="cpu", batching=Batching(2, FULL_ONLY, trim=True))
    before = batch_samples("batched-trim")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda clip: text(trimmed, clip), [clip for clip, _ in clips]))
    after = batch_samples("batched-trim")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)
    assert_each_its_own(got, [reference for _, reference in clips])


def test_a_stream_through_the_batcher_still_comes_window_by_window() -> None:
    """A minute of speech (several windows) streamed from a batching service: its first segment arrives while later
    windows are still to be decoded (a stream's windows are queued one ahead, not all in one batch), and the deltas
    add up to the whole text."""
    from tests.asr.integration.test_service import wav_bytes
    from tests.asr.integration.test_stream_jobs_language import REPEATS, sample_samples

    speech = sample_samples()
    minute = wav_bytes(np.concatenate([np.concatenate([speech, np.zeros(8000, np.float32)]) for _ in range(REPEATS)]))
    service = start_asr(batch_size=8, batch_wait_ms=10)
    try:
        engine = service.app.state.service.models.get("tiny.en")  # type: ignore[attr-defined]
        batches_at: list[int] = []
        deltas: list[str] = []
        done = ""
        with httpx.stream(
            "POST",
            f"{service.url}/v1/audio/transcriptions",
            files={"file": ("minute.wav", minute, "audio/wav")},
            data={"model": "tiny.en", "stream": "true"},
            timeout=300,
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "transcript.text.delta":
                    batches_at.append(engine.batcher.batches)
                    deltas.append(event["delta"])
                elif event["type"] == "transcript.text.done":
                    done = event["text"]
        assert deltas and "".join(deltas) == done
        assert batches_at[0] < engine.batcher.batches, (batches_at, engine.batcher.batches)  # more decoded after it
        assert len(set(batches_at)) > 1  # the segments came over more than one batch
    finally:
        service.stop()


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(replace(GREEDY, vad=False), id="no-vad"),
        pytest.param(replace(GREEDY, condition_on_previous_text=True), id="text-carried"),
    ],
)
def test_what_windows_cannot_decode_apart_runs_in_sequence_on_a_batching_engine(options: Options) -> None:
    """Without VAD (the 30 s steps follow the decoded timestamps) or with text carried from window to window, a
    batching engine decodes a minute in sequence: all of it is heard, and nothing goes through the batcher."""
    from tests.asr.integration.test_stream_jobs_language import REPEATS, sample_samples

    speech = sample_samples()
    minute = np.concatenate([np.concatenate([speech, np.zeros(8000, np.float32)]) for _ in range(REPEATS)])
    engine = FasterWhisperEngine(str(bundled.tiny_en_dir()), model="batched-apart", device="cpu", batching=Batching(8))
    segments = list(engine.transcribe(minute, options).segments)
    assert segments[-1].end > len(minute) / 16000 - 15, segments[-1]  # heard to the end
    assert engine.batcher is not None and engine.batcher.batches == 0


def test_a_window_whose_decode_ends_early_has_the_rest_of_its_speech_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first decode of the clip's window is cut after its first segment (as a fallback's sampled text sometimes
    ends early): the rest of the window is decoded from where it ended, as the sequential decode seeks on, and the
    transcript still holds all of the speech (before, everything after that segment was lost)."""
    from asr.engines import windows

    clip, reference = SAMPLE, SAMPLE_REFERENCE  # 15 s, four segments
    path = str(bundled.tiny_en_dir())
    whole = text(FasterWhisperEngine(path, model="tiny.en", device="cpu", batching=Batching(2, 0.0)), clip)
    real = windows.WindowDecoder.__call__
    cut: list[float] = []

    def ending_early(self: windows.WindowDecoder, key: object, batch: list[windows.Window]) -> list[windows.Decoded]:
        decoded = real(self, key, batch)
        if not cut:
            first = decoded[0]
            cut.append(batch[0].metadata["offset"] + batch[0].metadata["duration"] - first.segments[0]["end"])
            decoded[0] = replace(first, segments=first.segments[:1])
        return decoded

    monkeypatch.setattr(windows.WindowDecoder, "__call__", ending_early)
    engine = FasterWhisperEngine(path, model="early-end", device="cpu", batching=Batching(2, 0.0))
    got = text(engine, clip)
    assert cut and cut[0] >= windows.RESEEK_SECONDS  # the doctored decode left speech behind
    assert batch_samples("early-end")[0] >= 2  # the window, then its rest
    assert word_error_rate(reference, whole) <= 0.15
    assert word_error_rate(reference, got) <= word_error_rate(reference, whole) + 0.05, (got, whole)
