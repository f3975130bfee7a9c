"""faster-whisper (CTranslate2): the default engine. int8 on CPU, float16 on a GPU (int8 weights, as the images'
prepared models store them, with float16 activations there)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from asr.batching import Batcher
from asr.devices import torch_name
from asr.engines.base import (
    SAMPLE_RATE,
    Audio,
    Options,
    Segment,
    TokenLogprob,
    Transcription,
    TranscriptionInfo,
    Word,
)
from asr.engines.windows import Decoded, Window, WindowDecoder, submitting_pipeline
from dhg_core.vocabulary import Device

COMPUTE_TYPES = {"cpu": "int8", "gpu": "float16"}


def compute_type(device: Device, stored: str | None) -> str:
    """CTranslate2's compute type on `device` for weights stored as `stored` (None: not known): weights already int8
    stay int8 on a GPU (int8_float16) rather than widened to float16 with nothing gained back."""
    if device == "gpu" and stored == "int8":
        return "int8_float16"
    return COMPUTE_TYPES[device]


def _segment(raw: Any) -> Segment:
    words = None
    if raw.words is not None:
        words = tuple(Word(w.start, w.end, w.word, w.probability) for w in raw.words)
    return Segment(
        start=raw.start,
        end=raw.end,
        text=raw.text,
        words=words,
        avg_logprob=raw.avg_logprob,
        no_speech_prob=raw.no_speech_prob,
        compression_ratio=raw.compression_ratio,
        temperature=raw.temperature,
    )


def _segments(raw: Iterable[Any]) -> Iterator[Segment]:
    for item in raw:
        yield _segment(item)


WINDOW_SECONDS = 30  # Whisper's input window; a segment never spans more


def _with_token_logprobs(
    engine: FasterWhisperEngine, audio: Audio, raw: Iterable[Any], task: str, language: str
) -> Iterator[Segment]:
    """The segments with their text tokens' log-probabilities: each segment's tokens scored by the model against its
    own 30 s of audio (CTranslate2's `align`, as faster-whisper scores words for their probabilities)."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    model = engine._model
    tokenizer = Tokenizer(model.hf_tokenizer, engine.multilingual, task=task, language=language)
    for item in raw:
        segment = _segment(item)
        text_tokens = [token for token in item.tokens if token < tokenizer.eot]
        if not text_tokens:
            yield segment
            continue
        first = int(segment.start * SAMPLE_RATE)
        features = model.feature_extractor(audio[first : first + WINDOW_SECONDS * SAMPLE_RATE])
        frames = min(features.shape[-1], model.feature_extractor.nb_max_frames)
        encoded = model.encode(pad_or_trim(features[:, :frames]))
        (aligned,) = model.model.align(encoded, tokenizer.sot_sequence, [text_tokens], frames)
        scored = []
        for token, probability in zip(text_tokens, aligned.text_token_probs, strict=True):
            text = model.hf_tokenizer.decode([token])
            scored.append(TokenLogprob(text, math.log(max(float(probability), 1e-12)), tuple(text.encode())))
        yield replace(segment, tokens=tuple(scored))


@dataclass(frozen=True)
class Batching:
    """How the model's batcher batches (asr/batching.py): at most `max_size` windows at once, waiting at most
    `max_wait` seconds for a batch to fill; across requests, or (`across_requests` off) only a request's own."""

    max_size: int = 8
    max_wait: float = 0.01
    across_requests: bool = True
    trim: bool = False  # encode a short window's audio (and a margin) only, not all 30 s (asr/engines/windows.py)


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(
        self,
        model_path: str,
        *,
        model: str,
        device: Device,
        compute_type: str | None = None,
        cpu_threads: int = 0,
        batching: Batching | None = None,
    ) -> None:
        from faster_whisper import WhisperModel

        self.model = model
        self.model_path = model_path
        self.device = device
        self.compute_type = compute_type or COMPUTE_TYPES[device]
        self._model = WhisperModel(
            model_path,
            device=torch_name(device),
            compute_type=self.compute_type,
            cpu_threads=cpu_threads,
            local_files_only=True,
        )
        self.multilingual = bool(self._model.model.is_multilingual)
        self.batching = batching
        self.batcher: Batcher[Window, Decoded] | None = None
        if batching is not None and batching.max_size > 1:
            self.batcher = Batcher(
                WindowDecoder(self._model),
                max_size=batching.max_size,
                max_wait=batching.max_wait,
                model=model,
                device=device,
                across_sessions=batching.across_requests,
            )

    @property
    def prefetches(self) -> bool:
        """Whether `transcribe` queues its windows before its segments are read (transcribe.run then prepares the
        next piece while this one decodes, so one long file fills batches too)."""
        return self.batcher is not None

    def transcribe(self, audio: Audio, options: Options) -> Transcription:
        kwargs: dict[str, Any] = {
            "language": options.language or ("en" if not self.multilingual else None),
            "task": options.task,
            "initial_prompt": options.prompt,
            "temperature": list(options.temperature),
            "beam_size": options.beam_size,
            "word_timestamps": options.word_timestamps,
            "vad_filter": options.vad,
            "condition_on_previous_text": options.condition_on_previous_text,
            "compression_ratio_threshold": options.compression_ratio_threshold,
            "log_prob_threshold": options.log_prob_threshold,
            "no_speech_threshold": options.no_speech_threshold,
            "hotwords": options.hotwords,
        }
        if options.vad and (vad_parameters := options.vad_settings.parameters()):
            kwargs["vad_parameters"] = vad_parameters
        speech: float | None = None
        close = None
        windowed = options.batch_size > 1 and options.vad and not options.condition_on_previous_text
        if self.batcher is not None and windowed:
            # Windows through the model's batcher: no text carries from window to window, so any may be in any batch.
            del kwargs["condition_on_previous_text"]
            trim = options.trim if options.trim is not None else self.batching is not None and self.batching.trim
            pipeline, close = submitting_pipeline(
                self._model,
                self.batcher,
                options.temperature,
                trim=trim,
                lead=options.window_lead,
                priority=options.priority,
                reseek=options.reseek,
            )
            raw, info = pipeline.transcribe(audio, without_timestamps=False, **kwargs)
            speech = float(info.duration_after_vad)
        else:
            # In sequence: batching off, or what windows decoded apart cannot do (text carried from one window to the
            # next; no VAD, where the 30 s steps follow the decoded timestamps rather than the speech).
            raw, info = self._model.transcribe(audio, **kwargs)
        summary = TranscriptionInfo(
            info.language, float(info.language_probability), float(info.duration), speech_seconds=speech
        )
        segments = _segments(raw)
        if options.token_logprobs:
            segments = _with_token_logprobs(self, audio, raw, options.task, info.language)
        return Transcription(segments, summary, on_close=close)

    def prompt_tokens(self, prompt: str) -> int:
        return len(self._model.hf_tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids)

    def detect_language(self, audio: Audio) -> list[tuple[str, float]]:
        if not self.multilingual:
            return [("en", 1.0)]
        _, _, probabilities = self._model.detect_language(audio)
        return [(language, float(p)) for language, p in probabilities]
