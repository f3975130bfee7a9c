"""The engine interface and its plain-data results (pure; no engine library imported here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from dhg_core.vocabulary import Device

SAMPLE_RATE = 16_000
Audio = npt.NDArray[np.float32]  # mono, 16 kHz, in [-1, 1]
Task = Literal["transcribe", "translate"]
# Decoding defaults that avoid Whisper's repetition and hallucination loops on silence and noise:
# no conditioning on previous text (loops propagate through the prompt; it also halves speed on long
# audio), temperature fallback on high compression ratio or low log-probability, and VAD so silence
# never reaches the decoder.
TEMPERATURE_FALLBACK: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6


def _plain_floats(instance: object, *names: str) -> None:
    """Engines hand over NumPy floats (faster-whisper's word times): kept as Python floats, which every JSON encoder
    takes (orjson refuses NumPy's)."""
    for name in names:
        value = getattr(instance, name)
        if value is not None and type(value) is not float:
            object.__setattr__(instance, name, float(value))


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None

    def __post_init__(self) -> None:
        _plain_floats(self, "start", "end", "probability")


@dataclass(frozen=True)
class TokenLogprob:
    """One decoded text token: its text, the natural log of its probability, and its UTF-8 bytes."""

    token: str
    logprob: float
    bytes: tuple[int, ...]


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None
    speaker: str | None = None  # set by diarization (asr/diarization)
    tokens: tuple[TokenLogprob, ...] | None = None  # with Options.token_logprobs, where the engine can

    def __post_init__(self) -> None:
        _plain_floats(self, "start", "end", "avg_logprob", "no_speech_prob", "compression_ratio", "temperature")

    def shifted(self, offset: float) -> Segment:
        """The same segment `offset` seconds later (for chunks of long audio)."""
        words = tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in self.words or ())
        return replace(
            self, start=self.start + offset, end=self.end + offset, words=words if self.words is not None else None
        )


@dataclass(frozen=True)
class TranscriptionInfo:
    language: str
    language_probability: float
    duration: float
    speech_seconds: float | None = None  # what VAD kept, where it is known before the segments are read


@dataclass(frozen=True)
class VadSettings:
    """Silero VAD's knobs (OpenAI's `chunking_strategy: server_vad` maps onto them); None keeps faster-whisper's."""

    threshold: float | None = None
    min_silence_ms: int | None = None  # OpenAI's silence_duration_ms
    speech_pad_ms: int | None = None  # OpenAI's prefix_padding_ms

    def parameters(self) -> dict[str, float | int]:
        """faster-whisper's `vad_parameters` (VadOptions' field names)."""
        named = {
            "threshold": self.threshold,
            "min_silence_duration_ms": self.min_silence_ms,
            "speech_pad_ms": self.speech_pad_ms,
        }
        return {name: value for name, value in named.items() if value is not None}


@dataclass(frozen=True)
class Options:
    """How to decode. `batch_size` > 1 selects batched inference (faster on long audio)."""

    task: Task = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: Sequence[float] = TEMPERATURE_FALLBACK
    beam_size: int = 5
    word_timestamps: bool = False
    vad: bool = True
    vad_settings: VadSettings = field(default_factory=VadSettings)
    hotwords: str | None = None  # words to favour (faster-whisper's hotwords: a prefix the decoder is steered by)
    token_logprobs: bool = False  # each segment's text tokens with their log-probabilities (OpenAI's logprobs)
    batch_size: int = 1
    # Batched windows waiting ahead of the one being read: 0, all of a piece (throughput); 1, a stream's (its
    # segments come window by window).
    window_lead: int = 0
    # Batched windows encoded from their own audio (and a margin) rather than all 30 s; None: as the engine's
    # batching says (DHG_ASR_BATCH_TRIM). A live session's decodes while a turn is spoken are trimmed.
    trim: bool | None = None
    # Batched windows of a higher priority are decoded before those of a lower one (asr/batching.py): a live turn's
    # first words and its last decode go ahead of re-decodes and files.
    priority: int = 0
    # A batched window whose decode ends well before its speech does has the rest decoded from there (as the
    # sequential decode seeks on); a live turn's interim decodes skip it (the next decode hears the rest anyway).
    reseek: bool = True
    condition_on_previous_text: bool = False
    compression_ratio_threshold: float = COMPRESSION_RATIO_THRESHOLD
    log_prob_threshold: float = LOG_PROB_THRESHOLD
    no_speech_threshold: float = NO_SPEECH_THRESHOLD


@dataclass
class Transcription:
    """A lazy stream of segments (decoded as they are consumed) and what is known up front."""

    segments: Iterator[Segment]
    info: TranscriptionInfo
    extra: dict[str, float] = field(default_factory=dict)
    on_close: Callable[[], None] | None = None  # drops what the engine queued for it (the batcher's windows)

    def close(self) -> None:
        """No more of it will be read: what is queued for it and not decoded yet is dropped (idempotent)."""
        if self.on_close is not None:
            self.on_close()
        close = getattr(self.segments, "close", None)
        if close is not None:
            close()


class Engine(Protocol):
    """A loaded model on a device: one noun, one verb."""

    name: str
    model: str
    device: Device
    compute_type: str
    multilingual: bool

    def transcribe(self, audio: Audio, options: Options) -> Transcription: ...

    def prompt_tokens(self, prompt: str) -> int:
        """How many tokens `prompt` is to this model's tokenizer (as it is given to the decoder)."""

    def detect_language(self, audio: Audio) -> list[tuple[str, float]]:
        """Languages by probability, most likely first."""
