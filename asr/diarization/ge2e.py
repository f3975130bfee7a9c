"""The offline diarization backend: Silero VAD (the copy faster-whisper ships) finds speech, the GE2E encoder of the
resemblyzer wheel embeds it in 1.6 s windows, clustering says who is who, and known speakers' reference clips name
the clusters they match. Audio arrives chunk by chunk (as the transcription decodes it); only the embeddings are
kept, so memory stays flat in the audio's length."""

from __future__ import annotations

import itertools
import math
import string

import numpy as np
from numpy.typing import NDArray

from asr.diarization.clustering import centroids, cluster
from asr.diarization.encoder import HOP_SAMPLES, PARTIAL_FRAMES, SAMPLE_RATE, VoiceEncoder
from asr.diarization.protocol import Audio, DiarizationOptions
from asr.diarization.speakers import Turn

KNOWN_MATCH = 0.70  # cosine similarity from which a cluster is taken to be a known speaker
MIN_SPEECH_MS = 250  # shorter bursts (clicks, breaths) are nobody
MIN_SILENCE_MS = 200  # a pause this long ends a speech region: turns change at pauses
SPEECH_PAD_MS = 60
WINDOW_FRAMES = PARTIAL_FRAMES
FRAME_SECONDS = HOP_SAMPLES / SAMPLE_RATE


def speech_regions(audio: Audio) -> list[tuple[int, int]]:
    """(start, end) sample indexes of speech, by the Silero VAD faster-whisper ships."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_speech_duration_ms=MIN_SPEECH_MS, min_silence_duration_ms=MIN_SILENCE_MS, speech_pad_ms=SPEECH_PAD_MS
    )
    return [(int(r["start"]), int(r["end"])) for r in get_speech_timestamps(audio, options)]


def windows(region: tuple[int, int]) -> list[tuple[int, int, float, float]]:
    """For one speech region: windows of at most 1.6 s (first frame, frames) and the part each labels (start and end
    in seconds). A short region is one window of its own frames; a long one gets as many as cover it."""
    first = region[0] // HOP_SAMPLES
    last = max(first + 1, region[1] // HOP_SAMPLES)
    length = last - first
    if length <= WINDOW_FRAMES:
        return [(first, length, first * FRAME_SECONDS, last * FRAME_SECONDS)]
    count = math.ceil(length / WINDOW_FRAMES)
    starts = np.linspace(first, last - WINDOW_FRAMES, count).round().astype(int).tolist()
    centres = [start + WINDOW_FRAMES / 2 for start in starts]
    bounds = [first, *[(a + b) / 2 for a, b in itertools.pairwise(centres)], last]
    return [
        (start, WINDOW_FRAMES, bounds[i] * FRAME_SECONDS, bounds[i + 1] * FRAME_SECONDS)
        for i, start in enumerate(starts)
    ]


def reference(encoder: VoiceEncoder, clip: Audio) -> NDArray[np.float32]:
    """A known speaker's embedding from a short clip (its speech only, when the VAD finds some)."""
    regions = speech_regions(clip)
    speech = np.concatenate([clip[a:b] for a, b in regions]) if regions else clip
    return encoder.embed_utterance(speech)


def letters(index: int) -> str:
    """A, B, ..., Z, AA, AB, ...: OpenAI's names for speakers nobody named."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = string.ascii_uppercase[rest] + name
    return name


class Ge2eDiarizer:
    """Speaker diarization that needs no download: `session(options)`, `add` each chunk, `finish` for the turns."""

    name = "ge2e"

    def __init__(self, encoder: VoiceEncoder | None = None) -> None:
        self.encoder = encoder or VoiceEncoder()

    def session(self, options: DiarizationOptions | None = None) -> Ge2eSession:
        return Ge2eSession(self.encoder, options or DiarizationOptions())


class Ge2eSession:
    def __init__(self, encoder: VoiceEncoder, options: DiarizationOptions) -> None:
        self.encoder = encoder
        self.options = options
        self.spans: list[tuple[float, float]] = []
        self.embeddings: list[NDArray[np.float32]] = []

    def add(self, offset: float, audio: Audio) -> None:
        """One chunk of the audio, `offset` seconds into it."""
        planned = [window for region in speech_regions(audio) for window in windows(region)]
        if not planned:
            return
        self.embeddings.append(self.encoder.embed_windows(audio, [(first, frames) for first, frames, _, _ in planned]))
        self.spans.extend((offset + start, offset + end) for _, _, start, end in planned)

    def finish(self) -> list[Turn]:
        if not self.spans:
            return []
        embeddings = np.concatenate(self.embeddings)
        labels = cluster(
            embeddings, min_speakers=self.options.min_speakers, max_speakers=self.options.max_speakers
        ).tolist()
        names = self._names(embeddings, labels)
        turns: list[Turn] = []
        for (start, end), label in zip(self.spans, labels, strict=True):
            speaker = names[label]
            if turns and turns[-1].speaker == speaker and start - turns[-1].end < 1e-6:
                turns[-1] = Turn(turns[-1].start, end, speaker)
            else:
                turns.append(Turn(start, end, speaker))
        return turns

    def _names(self, embeddings: NDArray[np.float32], labels: list[int]) -> dict[int, str]:
        """Known speakers' names for the clusters they match best (each name once), letters for the others."""
        clusters = sorted(set(labels))
        named: dict[int, str] = {}
        if self.options.known_speakers:
            references = {name: reference(self.encoder, clip) for name, clip in self.options.known_speakers.items()}
            means = centroids(embeddings, np.array(labels))
            similarity = means @ np.stack(list(references.values())).T
            pairs = sorted(
                ((float(similarity[c, k]), c, name) for c in clusters for k, name in enumerate(references)),
                reverse=True,
            )
            for score, label, name in pairs:
                if score >= KNOWN_MATCH and label not in named and name not in named.values():
                    named[label] = name
        unnamed = iter(letters(index) for index in range(len(clusters) + len(named)))
        taken = set(named.values())
        for label in clusters:
            if label not in named:
                name = next(unnamed)
                while name in taken:
                    name = next(unnamed)
                named[label] = name
        return named
