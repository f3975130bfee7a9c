"""Diarization's parts, pure: the GE2E encoder against torch's own LSTM, its weights read without torch, windows over
speech, clustering, speakers onto segments and words, names for speakers, known speakers' clips, the response and
the formats with speakers."""

from __future__ import annotations

import base64
import io
import itertools
import uuid
import wave

import numpy as np
import pytest
import torch

from asr.diarization.clustering import cluster
from asr.diarization.encoder import PARTIAL_FRAMES, VoiceEncoder, mel_filters, read_state, weights_path
from asr.diarization.evaluation import converse
from asr.diarization.ge2e import FRAME_SECONDS, letters, windows
from asr.diarization.speakers import Turn, label_segments, speaker_at, talk_time
from asr.engines.base import Segment, Word
from asr.errors import InvalidRequest
from asr.known_speakers import parse
from asr.responses import render
from asr.transcribe import Result
from dhg_core.formats import write_vtt


@pytest.fixture(scope="module")
def encoder() -> VoiceEncoder:
    return VoiceEncoder()


def test_the_weights_are_read_exactly_without_torch() -> None:
    ours = read_state(weights_path())
    theirs = torch.load(weights_path(), map_location="cpu", weights_only=False)["model_state"]
    assert set(ours) == set(theirs)
    for name, tensor in theirs.items():
        assert np.array_equal(ours[name], tensor.numpy()), name


def test_the_numpy_encoder_equals_torch_s_lstm(encoder: VoiceEncoder) -> None:
    state = torch.load(weights_path(), map_location="cpu", weights_only=False)["model_state"]
    lstm, linear = torch.nn.LSTM(40, 256, 3, batch_first=True), torch.nn.Linear(256, 256)
    lstm.load_state_dict({k.removeprefix("lstm."): v for k, v in state.items() if k.startswith("lstm.")})
    linear.load_state_dict({k.removeprefix("linear."): v for k, v in state.items() if k.startswith("linear.")})
    mels = np.random.default_rng(1).random((7, PARTIAL_FRAMES, 40), dtype=np.float32)
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(mels))
        expected = torch.relu(linear(hidden[-1]))
        expected = (expected / expected.norm(dim=1, keepdim=True)).numpy()
    assert np.abs(encoder.embed_mels(mels) - expected).max() < 1e-5


def test_the_mel_filters_are_slaney_triangles() -> None:
    filters = mel_filters()
    assert filters.shape == (40, 201) and (filters >= 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[0] < 5 and peaks[-1] > 180  # 0 Hz to 8 kHz, in order
    assert len({int(np.count_nonzero(row)) for row in filters[:5]}) <= 2  # linear below 1 kHz: equal widths


def test_a_short_region_is_one_window_of_its_own_frames_and_a_long_one_is_covered() -> None:
    assert windows((16_000, 32_000)) == [(100, 100, 1.0, 2.0)]
    long = windows((0, 16_000 * 5))  # 5 s: four windows of 1.6 s
    assert len(long) == 4 and all(frames == PARTIAL_FRAMES for _, frames, _, _ in long)
    assert long[0][2] == 0.0 and long[-1][3] == pytest.approx(500 * FRAME_SECONDS)
    assert all(a[3] == pytest.approx(b[2]) for a, b in itertools.pairwise(long))  # no gap, no overlap


def _speakers(count: int, per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count, 256))
    truth = np.repeat(np.arange(count), per)
    rng.shuffle(truth)
    points = centres[truth] + rng.normal(scale=0.35, size=(len(truth), 256)) * np.linalg.norm(centres[0]) / 16
    return np.abs(points).astype(np.float32), truth


def _same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    return all(len(set(labels[truth == t])) == 1 for t in set(truth)) and len(set(labels)) == len(set(truth))


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_clustering_finds_how_many_speakers_there_are(count: int) -> None:
    embeddings, truth = _speakers(count, 30)
    labels = cluster(embeddings)
    assert _same_partition(labels, truth)
    assert labels[0] == 0  # numbered by first appearance: speaker A speaks first


def test_speaker_bounds_are_kept() -> None:
    embeddings, _ = _speakers(4, 20)
    assert len(set(cluster(embeddings, max_speakers=2))) == 2
    one, _ = _speakers(1, 20)
    assert len(set(cluster(one, min_speakers=3, max_speakers=3))) == 3
    assert cluster(one[:1]).tolist() == [0] and cluster(one[:0]).tolist() == []


def test_a_handful_of_odd_windows_is_not_a_speaker() -> None:
    embeddings, truth = _speakers(2, 40)
    odd = np.abs(np.random.default_rng(9).normal(size=(1, 256))).astype(np.float32)
    labels = cluster(np.vstack([embeddings, odd]))
    assert len(set(labels)) == 2 and _same_partition(labels[:-1], truth)


def test_words_take_the_speaker_talking_and_segments_split_where_they_change() -> None:
    turns = [Turn(0.0, 2.0, "A"), Turn(2.1, 4.0, "B")]
    words = (Word(0.0, 0.5, " Hello", 0.9), Word(0.5, 1.9, " there.", 0.9), Word(2.2, 3.0, " Hi!", 0.9))
    labelled = label_segments([Segment(0.0, 3.0, " Hello there. Hi!", words)], turns)
    assert [(s.start, s.end, s.text, s.speaker) for s in labelled] == [
        (0.0, 1.9, " Hello there.", "A"),
        (2.2, 3.0, " Hi!", "B"),
    ]
    assert [w.speaker for s in labelled for w in s.words or ()] == ["A", "A", "B"]
    no_words = label_segments([Segment(1.5, 3.9, " Mostly B.")], turns)
    assert no_words[0].speaker == "B"
    assert speaker_at(turns, 5.0, 5.5) == "B" and speaker_at([], 0, 1) is None  # the nearest turn; nobody
    assert talk_time(labelled) == {"A": pytest.approx(1.9), "B": pytest.approx(0.8)}


def test_the_generator_mixes_turns_and_writes_their_reference_rttm() -> None:
    one, two = np.full(16_000, 0.1, np.float32), np.full(24_000, -0.1, np.float32)
    talk = converse("talk", [("ann", [one]), ("bob", [two])], seconds=5, seed=1, overlap_chance=0)
    speakers = [speaker for _, _, speaker in talk.turns]
    assert all(a != b for a, b in itertools.pairwise(speakers))  # never the same speaker twice in a row
    assert talk.turns[-1][1] >= 5 and talk.duration >= talk.turns[-1][1]
    first = talk.rttm().splitlines()[0].split()
    start, length, speaker = float(first[3]), float(first[4]), first[7]
    assert first[:3] == ["SPEAKER", "talk", "1"] and (start, speaker) == (0.0, speakers[0])
    assert length == pytest.approx(1.0 if speaker == "ann" else 1.5)
    assert len(talk.rttm().splitlines()) == len(talk.turns)


def test_unnamed_speakers_are_lettered_as_openai_letters_them() -> None:
    assert [letters(i) for i in (0, 1, 25, 26, 27, 701)] == ["A", "B", "Z", "AA", "AB", "ZZ"]


def _wav(seconds: float) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        tone = np.sin(np.arange(int(16_000 * seconds)) * 0.05) * 8000
        out.writeframes(tone.astype(np.int16).tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_known_speakers_clips_are_decoded() -> None:
    speakers = parse(["Ann", "Bob"], [_wav(2.0), _wav(3.0)])
    assert list(speakers) == ["Ann", "Bob"] and len(speakers["Bob"]) == 48_000


@pytest.mark.parametrize(
    ("names", "references", "says"),
    [
        (["Ann"], [], "give one reference clip per name"),
        (["A", "B", "C", "D", "E"], ["x"] * 5, "at most 4"),
        (["Ann", "Ann"], ["x", "x"], None),
        ([""], ["x"], "known_speaker_names[0]"),
        (["Ann"], ["https://example.com/ann.wav"], "must be a data URL"),
        (["Ann"], ["data:audio/wav;base64,@@@"], "not valid base64"),
        (["Ann"], ["data:audio/wav;base64," + base64.b64encode(b"not audio").decode()], "known_speaker_references[0]"),
        (["Ann"], [_wav(0.3)], "1-30 s are taken"),
    ],
)
def test_known_speakers_are_refused_with_the_reason(names: list[str], references: list[str], says: str | None) -> None:
    if names == ["Ann", "Ann"]:
        references = [_wav(2.0), _wav(2.0)]
        says = "repeats 'Ann'"
    with pytest.raises(InvalidRequest) as refused:
        parse(names, references)
    assert says in refused.value.detail


def _result() -> Result:
    segments = [
        Segment(0.0, 1.0, " Hi <b>there</b> & you.", speaker="Ann"),
        Segment(1.2, 2.0, " Hello.", speaker="B"),
    ]
    return Result(segments, "en", 2.0, 0.5, "faster-whisper", "tiny.en", "cpu")


def test_diarized_json_is_openai_s_shape() -> None:
    body, media_type = render(_result(), "diarized_json", "transcribe", set())
    assert media_type == "application/json" and isinstance(body, dict)
    assert body["task"] == "transcribe" and body["duration"] == 2.0
    assert body["segments"][1] == {
        "type": "transcript.text.segment",
        "id": "seg_001",
        "start": 1.2,
        "end": 2.0,
        "text": "Hello.",
        "speaker": "B",
    }
    text, _ = render(_result(), "text", "transcribe", set())
    assert text == "[Ann] Hi <b>there</b> & you.\n[B] Hello.\n"


def test_vtt_escapes_what_would_open_a_tag() -> None:
    vtt = write_vtt({"segments": [{"start": 0, "end": 1, "text": "a <b>c</b> & d", "speaker": "x>y"}]})
    assert "<v x&gt;y>a &lt;b&gt;c&lt;/b&gt; &amp; d" in vtt


def test_the_stored_transcript_carries_the_speakers() -> None:
    transcript = _result().to_transcript(uuid.uuid4())
    assert [s.speaker for s in transcript.segments] == ["Ann", "B"]
